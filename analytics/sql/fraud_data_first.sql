-- The first record of all the data (UTC): what sim_box's "newly active" is measured from,
-- read once by the cluster driver for the shares of the subscribers. No parameters.
select min(start_at) as data_first_at from records
