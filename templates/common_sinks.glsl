// Attention sinks: head h's logit joins its rows' softmax denominator and adds
// no value. sink_fold takes a row's running max m and sum l (l counts e^(x - m),
// natural units) and folds the sink in; it returns the factor the row's O must
// be multiplied by. sink_fold2 is the same for a max in log2 units (l counts
// 2^(x - m)). A row that saw no key (m = -inf) ends with O = 0, LSE = the sink.
layout(set = 0, binding = BINDING_SINKS) readonly buffer Sinks { float sinks[]; };

float sink_fold(uint h, inout float m, inout float l)
{
    const float s = sinks[h];
    const float mn = max(m, s);
    const float a = m == NEG_INF ? 0.0 : exp(m - mn);
    l = l * a + exp(s - mn);
    m = mn;
    return a;
}

float sink_fold2(uint h, inout float m, inout float l)
{
    const float s = sinks[h] * 1.4426950408889634;
    const float mn = max(m, s);
    const float a = m == NEG_INF ? 0.0 : exp2(m - mn);
    l = l * a + exp2(s - mn);
    m = mn;
    return a;
}
