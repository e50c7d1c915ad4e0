-- POST /v1/orders: two distinct random skus, quantity 1, a random customer's token, a unique Idempotency-Key.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
  tokens = read_lines(args[1] .. "/tokens.txt")
  skus = read_lines(args[1] .. "/skus.txt")
  nonce = args[2]
  counter = 0
  math.randomseed(tonumber(nonce) % 1000003 + (id or 0) * 7919)
end

function request()
  counter = counter + 1
  local a = math.random(#skus)
  local b = math.random(#skus - 1)
  if b >= a then b = b + 1 end
  local body = '{"items":[{"sku":"' .. skus[a] .. '","quantity":1},{"sku":"' .. skus[b] .. '","quantity":1}]}'
  return wrk.format("POST", base() .. "/v1/orders", {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "bench-" .. nonce .. "-" .. (id or 0) .. "-" .. counter,
  }, body)
end
