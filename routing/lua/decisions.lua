-- What the steps of an incoming call decide: refuse it, turn an unknown caller away, ask for a PIN, or bridge it.
-- A decision is {kind = 'refuse', reason} or {kind, session = its JSON, caller = 'first' | 'second' | '',
-- wrong = wrong PINs so far} where kind is `unknown`, `pin`, `bridge`, `retry`, `failed`, `locked` (the session
-- takes no PIN for now: pin_guesses.lua) or `closed` (see `routing.calls.inbound.decision_from`). A PIN prompt for a
-- stranger on a shared DID also has `any_length` (1): the PINs of the DID's sessions may differ in length.
--! include base.lua
--! include calls.lua

-- How long a call holds its session when no callback ends it (the caller hung up during a PIN prompt).
local function pin_window(s)
  return ((tonumber(s['pin_retry']) or 1) + 1) * ((tonumber(s['pin_retry_wait']) or 5) + 60) * 1000000
end

-- How long a call's reports may lag behind the carrier before its hold on the session is given up, in s.
local HOLD_MARGIN = 60

-- How long a dial that has not been answered holds its session: the `<Dial timeout>` masq gives, and the margin.
local function call_window(s)
  local ring = math.min(math.max(tonumber(s['ring_timeout']) or 120, 5), 600)
  return (ring + HOLD_MARGIN) * 1000000
end

-- How long an answered call holds its session: the `<Dial timeLimit>` masq gives, and the margin.
local function talk_window(s)
  return (dial_time_limit(s) + HOLD_MARGIN) * 1000000
end

local function other(s, party)
  if party == 'first' then return s['second_party'] end
  return s['first_party']
end

local function refusal(reason)
  return {kind = 'refuse', reason = reason}
end

local function decision(kind, blob, caller, wrong)
  return {kind = kind, session = blob, caller = caller, wrong = wrong}
end

-- The decision for interaction I as it stands: dialling bridges, a PIN prompt asks, anything else is over.
local function standing(I, blob)
  local kind = 'bridge'
  if I.state == 'pin' then kind = 'pin' elseif I.state ~= 'dialling' then kind = 'closed' end
  return decision(kind, blob, I.caller or '', I.tries or '0')
end
