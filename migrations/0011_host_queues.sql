-- caiji archive schema, version 11: claims read hosts' queues from one index.
--
-- A worker claims a few URLs per host at a time and refills a host's queue with one index probe
-- (the next pending URLs of that host, in claim order: list pages before articles, new pages
-- before revisits, then discovery order). The index is in exactly that order, so the probe
-- stops after the rows it returns, and choosing new hosts (the first pending URL of each host)
-- is a scan of this index without a sort. Version 9's index on (site, host, seq) made every
-- claim sort all pending rows of the site: at 1,000 hosts, 34 ms per claim and half of
-- PostgreSQL's time during a crawl.
DROP INDEX frontier_pending_host_idx;
CREATE INDEX frontier_pending_host_idx ON frontier (site, host, (kind = 'article'), revisit, seq)
    WHERE state = 'pending';
