/*
 * optim.cl -- optimizer updates, in place, one work-item per parameter element (PyTorch semantics,
 * see OptimizerParams). Flat arrays of n floats: param, grad and the optimizer's state buffers.
 * Bias corrections of Adam (c1 = 1 - beta1^step, c2 = 1 - beta2^step) are computed on the host in
 * double and passed in, so every element uses the same rounded constants.
 */

/* sgdUpdate: g = grad + wd*param; v = momentum*v + g; step = nesterov ? g + momentum*v : v; param -= lr*step. */
__kernel void sgdUpdate(const ulong n, const float lr, const float momentum, const int nesterov, const float wd,
                        __global float* param, __global const float* grad, __global float* velocity)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float w = param[i];
    const float g = grad[i] + wd * w;
    const float v = momentum * velocity[i] + g;
    velocity[i] = v;
    param[i] = w - lr * (nesterov ? g + momentum * v : v);
}

/*
 * adamUpdate: Adam (decoupled = 0: g = grad + wd*param) or AdamW (decoupled = 1: param -= lr*wd*param first);
 * m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; param -= lr * (m/c1) / (sqrt(v/c2) + eps).
 */
__kernel void adamUpdate(const ulong n, const float lr, const float beta1, const float beta2, const float eps,
                         const float wd, const int decoupled, const float c1, const float c2,
                         __global float* param, __global const float* grad, __global float* m, __global float* v)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    float w = param[i];
    float g = grad[i];
    if (decoupled) w -= lr * wd * w; else g += wd * w;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = w - lr * (mi / c1) / (sqrt(vi / c2) + eps);
}

/* adagradUpdate: g = grad + wd*param; acc += g^2; param -= lr * g / (sqrt(acc) + eps). */
__kernel void adagradUpdate(const ulong n, const float lr, const float eps, const float wd,
                            __global float* param, __global const float* grad, __global float* acc)
{
    const size_t i = get_global_id(0);
    if (i >= n) return;
    const float w = param[i];
    const float g = grad[i] + wd * w;
    const float a = acc[i] + g * g;
    acc[i] = a;
    param[i] = w - lr * g / (sqrt(a) + eps);
}
