-- A site's lots of one status, found in the order they were made (the web
-- app's site page, ListLots with a status), and each status's count
-- (GetSite) read from the index alone: a site of a thousand lots is no
-- longer read row by row to find its last hundred drafts.
CREATE INDEX lots_site_status ON lots (site_id, status, created_at, id);
