-- expect: 5: head_dim must be a multiple of 64 here
-- the spec's own error() call
local D = 96
if D % 64 ~= 0 then
    error("head_dim must be a multiple of 64 here")
end
attention { name = "ec", head_dim = D }
