-- expect: 3: attention takes one table: attention { name = "...", head_dim = 128, ... } (got "fwd128")
-- attention called with a string instead of a table
attention "fwd128"
