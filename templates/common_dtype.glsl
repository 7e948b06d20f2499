// Storage dtype {{DTYPE}}: buffers hold STORE_T; LOAD widens to fp32, TO_STORE rounds back.
{% if DTYPE == "f32" then %}
#define STORE_T float
#define LOAD(x) (x)
#define TO_STORE(x) (x)
{% elseif DTYPE == "f16" then %}
#define STORE_T float16_t
#define LOAD(x) float(x)
#define TO_STORE(x) float16_t(x)
{% else %}
#define STORE_T uint16_t
#define LOAD(x) uintBitsToFloat(uint(x) << 16)
#define TO_STORE(x) to_bf16(x)

// fp32 -> bf16, round to nearest even; NaN stays NaN.
uint16_t to_bf16(float x)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return uint16_t(0x7fc0u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return uint16_t(u >> 16);
}
{% end %}
