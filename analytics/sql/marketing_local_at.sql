-- Local wall time of a record's start_at (UTC) in $tz, a fragment for store.sql's include.
-- analytics/marketing/indicators.py's local_clock gives the window's UTC offsets as up to
-- three segments (cut points $local_cut_1 < $local_cut_2, offsets $local_offset_0..2): an
-- addition per row instead of ICU's per-row conversion; with null cut points (an open or
-- irregular window) ICU converts every row.
case
    when $local_cut_1::timestamp is null then timezone($tz, timezone('UTC', start_at))
    when start_at < $local_cut_1::timestamp then start_at + $local_offset_0::interval
    when start_at < $local_cut_2::timestamp then start_at + $local_offset_1::interval
    else start_at + $local_offset_2::interval
end
