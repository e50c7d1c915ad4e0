-- GET /v1/orders/<id>: a random seeded order, read with its owner's token.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
  pairs_ = {}
  for _, line in ipairs(read_lines(args[1] .. "/orders.txt")) do
    local token, order = line:match("^(%S+) (%S+)$")
    pairs_[#pairs_ + 1] = { token, order }
  end
  math.randomseed(tonumber(args[2]) % 1000003 + (id or 0) * 7919)
end

function request()
  local p = pairs_[math.random(#pairs_)]
  return wrk.format("GET", base() .. "/v1/orders/" .. p[2], { ["Authorization"] = "Bearer " .. p[1] })
end
