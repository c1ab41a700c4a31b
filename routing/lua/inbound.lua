-- Decide a new call to a virtual number and record it (see incoming.lua).
-- ARGV: NOW, virtual number, caller number ('' when withheld), CallSid. Reply: a decision (decisions.lua).
--! include incoming.lua
return reply(inbound(ARGV[2], ARGV[3], ARGV[4]))
