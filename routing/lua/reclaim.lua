-- End sessions past their expiry and free DIDs past their cool-off. ARGV: NOW, how many of each at most.
-- Reply: {ended = how many sessions ended}.
--! include pool.lua
local limit = number_arg(2)
return reply({ended = reclaim(limit)})
