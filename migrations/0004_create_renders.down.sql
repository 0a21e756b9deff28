-- Reverts 0004: renders reference render_chains, so they go first.
DROP TABLE renders;
DROP TABLE render_chains;
