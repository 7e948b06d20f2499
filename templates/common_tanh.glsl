// tanh with a small relative error near 0: the softcap multiplies any absolute
// error of tanh by the cap, and GPU tanh is only absolutely accurate.
float accurate_tanh(float x)
{
    float a = abs(x);
    if (a < 0.3) {
        float x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0
                    + x2 * (62.0 / 2835.0 + x2 * (-1382.0 / 155925.0))))));
    }
    float e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}
