-- Reverts 0002: credits and subscriptions before the plans they reference.
DROP TABLE user_credits;
DROP TABLE user_subscriptions;
DROP TABLE subscription_plans;
