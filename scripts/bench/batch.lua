-- wrk body script for scripts/bench-collector: one Segment batch of 100 track events
-- (ad_watched, 50 users), the same body on every request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer wk"
local items = {}
for i = 1, 100 do
  items[i] = string.format(
    '{"type":"track","messageId":"m%d","userId":"u%d","event":"ad_watched","properties":{"ad_id":"A%d","network":"n1","placement":"level_end"},"originalTimestamp":"2026-11-26T10:00:00Z"}',
    i, i % 50, i)
end
wrk.body = '{"batch":[' .. table.concat(items, ",") .. '],"sentAt":"2026-11-26T10:00:01Z"}'
