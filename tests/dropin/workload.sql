-- sqlite3 workload for the drop-in test: deterministic tables, an index,
-- joins, grouping and a text-heavy aggregate; every query ORDER BYs so the
-- output does not depend on plan details.
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO item SELECT i, (i * 7919) % 97, printf('item-%06d-%s', i, substr('abcdefghijklmnopqrstuvwxyz', i % 26 + 1, i % 13)), (i * 31 % 1000) / 10.0 FROM n;
CREATE INDEX item_grp ON item(grp, val);
CREATE TABLE tag(item INTEGER, tag TEXT);
INSERT INTO tag SELECT id, 't' || (id % 11) FROM item WHERE id % 3 = 0;
INSERT INTO tag SELECT id, 'u' || (id % 5) FROM item WHERE id % 5 = 0;
SELECT grp, count(*), printf('%.2f', sum(val)), min(name), max(name) FROM item GROUP BY grp ORDER BY grp LIMIT 20;
SELECT t.tag, count(*), printf('%.1f', avg(i.val)) FROM tag t JOIN item i ON i.id = t.item GROUP BY t.tag ORDER BY t.tag;
SELECT length(group_concat(name, ',')) FROM (SELECT name FROM item WHERE grp < 50 ORDER BY name);
UPDATE item SET name = upper(name) || name WHERE id % 4 = 0;
DELETE FROM item WHERE id % 6 = 1;
SELECT count(*), sum(length(name)), printf('%.2f', total(val)) FROM item;
SELECT id, name FROM item WHERE grp = 42 ORDER BY val DESC, id LIMIT 10;
