-- Reverts 0003.
DROP TABLE projects;
