-- Reverts 0005.
DROP TABLE gallery_items;
