-- caiji archive schema, version 3: what re-extraction at scale needs.

-- Keyset pagination of a site's captures by id.
CREATE INDEX captures_site_id_idx ON captures (site, id);
-- "Did this (interrupted) run already extract this capture?"
CREATE INDEX extractions_run_capture_idx ON extractions (crawl_run_id, capture_id);
