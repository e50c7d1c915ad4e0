-- GET /v1/products/<sku>: a random sku, no credentials.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function init(args)
  skus = read_lines(args[1] .. "/skus.txt")
  math.randomseed(tonumber(args[2]) % 1000003 + (id or 0) * 7919)
end

function request()
  return wrk.format("GET", base() .. "/v1/products/" .. skus[math.random(#skus)])
end
