// The matrices' element type. f16 kernels: float16_t. bf16 kernels: bf16 bit
// patterns carried in float16_t, only moved (loads, stores, bitcasts, matrix
// loads and products) and converted with TO_ELEM / ELEM_F, never computed
// with; the module is retyped to SPV_KHR_bfloat16 after validation, or, on
// emulated matrices, the emulation decodes the bits with ELEM_F.
{% if BF16_MATRICES then %}
// fp32 -> bf16 bits (low half), round to nearest even; NaN stays NaN.
uint bf16_bits(float x)
{
    uint u = floatBitsToUint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return 0x7fc0u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
#define TO_ELEM(v) unpackFloat2x16(bf16_bits(v))[0]
{% if EMULATE then %}
#define ELEM_F(v) uintBitsToFloat(packFloat2x16(f16vec2(v, float16_t(0.0))) << 16)
{% else %}
#define ELEM_F(x) float(x)
{% end %}
{% else %}
#define TO_ELEM(x) float16_t(x)
#define ELEM_F(x) float(x)
{% end %}
