-- Records of a UTC window as the rating engine takes them, plan not yet resolved.
-- Grain: one row per record. With $chargeable_only, records that are free under every
-- plan by the contract's rules (unanswered calls, incoming calls at home, incoming
-- sms/mms: the free rules of analytics/tariff.py) are left out: they neither cost nor
-- spend any allowance under any plan.
with
final as (
    select
        record_id, start_at, msisdn, service, direction, duration_s, disposition,
        bytes_up, bytes_down, is_roaming, destination_country, plan_id
    from records
    where start_at >= $start_at::timestamp
      and start_at < $end_at::timestamp
      and (
          not $chargeable_only
          or not {include:rating_free_record}
      )
)
select * from final
