-- Trends and consumption are pruned by time like the tiers they resemble; their primary
-- keys start with the meter, so pruning needs an index on the time.
CREATE INDEX trends_start ON trends (window_start);
CREATE INDEX consumption_start ON consumption (interval_start);
