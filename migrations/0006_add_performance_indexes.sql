-- The summary's index migration: 15 high-priority and 5 medium-priority indexes.
-- The five the summary names are here under its names; the other fifteen are designed from
-- the case-study operations (DESIGN.md) and the foreign keys of 0001-0005, none of which
-- PostgreSQL indexes on its own. Some medium ones are there "on faith", as in the summary,
-- and say so: the index audit is expected to find them unused.

------------------------------------------------------------------------------------------
-- High priority (15)
------------------------------------------------------------------------------------------

-- High (named in the summary). render_chains.delete_chain: find and detach the renders of
-- a chain (WHERE chain_id = $1); also the foreign-key check when a chain is deleted.
CREATE INDEX idx_renders_chain_id ON renders (chain_id);

-- High (named in the summary). Status filtering, e.g. the pending/failed renders a worker
-- or retry job picks up. Only four values: useful for the rare statuses, not 'completed'.
CREATE INDEX idx_renders_status ON renders (status);

-- High (named in the summary). A project's renders filtered by status, newest first
-- (WHERE project_id = $1 AND status = $2 ORDER BY created_at DESC).
CREATE INDEX idx_renders_project_status_created ON renders (project_id, status, created_at DESC);

-- High (named in the summary). gallery.list_public as the summary wrote it: public items
-- newest first (WHERE is_public ORDER BY created_at DESC OFFSET k). Superseded for the
-- keyset query by idx_gallery_items_public_keyset below.
CREATE INDEX idx_gallery_items_public_created ON gallery_items (is_public, created_at DESC);

-- High (named in the summary). billing.get_user_credits_with_reset: the user's active
-- subscription (LEFT JOIN ... ON user_id = $1 AND status = 'active'); also the
-- foreign key user_subscriptions.user_id.
CREATE INDEX idx_user_subscriptions_user_status ON user_subscriptions (user_id, status);

-- High. gallery.list_public with keyset pagination:
-- WHERE is_public AND (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT n.
-- Partial (only public rows) and covering, so a page is an index-only scan.
CREATE INDEX idx_gallery_items_public_keyset ON gallery_items (created_at DESC, id DESC)
    INCLUDE (render_id, user_id, likes) WHERE is_public;

-- High. profile_stats.get_user_stats: the user's latest renders
-- (WHERE user_id = $1 ORDER BY created_at DESC LIMIT 100); also the foreign key renders.user_id.
CREATE INDEX idx_renders_user_created ON renders (user_id, created_at DESC);

-- High. renders.top_n_per_project (newest n per project) and the per-project render counts
-- of projects.list_with_render_counts; also the foreign key renders.project_id.
CREATE INDEX idx_renders_project_created ON renders (project_id, created_at DESC);

-- High. A chain's renders in order (WHERE chain_id = $1 ORDER BY chain_position). Its
-- leading column also serves every lookup idx_renders_chain_id serves.
CREATE INDEX idx_renders_chain_position ON renders (chain_id, chain_position);

-- High. projects.list_with_render_counts and profile_stats.get_user_stats: a user's projects,
-- newest first (WHERE user_id = $1 ORDER BY created_at DESC); also the foreign key.
CREATE INDEX idx_projects_user_created ON projects (user_id, created_at DESC);

-- High. Foreign key renders.parent_render_id: the renders derived from a render, and the
-- check made on every DELETE of a render (otherwise a scan of renders per deleted row).
CREATE INDEX idx_renders_parent_render_id ON renders (parent_render_id);

-- High. Foreign key renders.reference_render_id: the renders that use a render as their
-- reference, and the check made on every DELETE of a render.
CREATE INDEX idx_renders_reference_render_id ON renders (reference_render_id);

-- High. Foreign key render_chains.project_id: a project's chains, and the check made when a
-- project is deleted.
CREATE INDEX idx_render_chains_project_id ON render_chains (project_id);

-- High. Foreign key render_chains.user_id: a user's chains, and the check made when a user
-- is deleted.
CREATE INDEX idx_render_chains_user_id ON render_chains (user_id);

-- High. A user's shared items, newest first (profile page gallery tab); also the foreign
-- key gallery_items.user_id.
CREATE INDEX idx_gallery_items_user_created ON gallery_items (user_id, created_at DESC);

------------------------------------------------------------------------------------------
-- Medium priority (5)
------------------------------------------------------------------------------------------

-- Medium. Foreign key user_subscriptions.plan_id: the check made when a plan is deleted and
-- subscriber counts per plan. The case-study operations join plans by their primary key,
-- so none of them uses it.
CREATE INDEX idx_user_subscriptions_plan_id ON user_subscriptions (plan_id);

-- Medium. The monthly credits reset job (WHERE next_reset_at <= now()). That job is not one
-- of the case-study operations; billing.get_user_credits_with_reset reads credits by user_id.
CREATE INDEX idx_user_credits_next_reset_at ON user_credits (next_reset_at);

-- Medium, added on faith: per-user status counts for the profile page. Its leading column
-- duplicates idx_renders_user_created, and no case-study operation filters a user's renders
-- by status; the index audit should show whether it earns its write cost.
CREATE INDEX idx_renders_user_status ON renders (user_id, status);

-- Medium, added on faith: a global "latest renders" feed. No case-study operation orders all
-- renders by time (renders.get_by_ids sorts rows already fetched by primary key).
CREATE INDEX idx_renders_created_at ON renders (created_at DESC);

-- Medium, added on faith: a "most liked" gallery ordering that no case-study operation has.
CREATE INDEX idx_gallery_items_likes ON gallery_items (likes DESC);
