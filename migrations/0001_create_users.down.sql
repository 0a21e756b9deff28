-- Reverts 0001: users, which every other table references (their migrations are reverted first).
DROP TABLE users;
