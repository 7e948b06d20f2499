// dot4: four int8 products, packed one per byte in a and b, summed; one OpSDot
// where the device has packed integer dot products (the plan's INT8_DOT; the
// including template enables GL_EXT_integer_dot_product then), the bytes
// unpacked in plain GLSL elsewhere.
int dot4(uint a, uint b)
{
{% if INT8_DOT then %}
    return dotPacked4x8EXT(int(a), int(b));
{% else %}
    ivec4 x = ivec4(bitfieldExtract(int(a), 0, 8), bitfieldExtract(int(a), 8, 8), bitfieldExtract(int(a), 16, 8),
                    bitfieldExtract(int(a), 24, 8));
    ivec4 y = ivec4(bitfieldExtract(int(b), 0, 8), bitfieldExtract(int(b), 8, 8), bitfieldExtract(int(b), 16, 8),
                    bitfieldExtract(int(b), 24, 8));
    return x.x * y.x + x.y * y.y + x.z * y.z + x.w * y.w;
{% end %}
}
