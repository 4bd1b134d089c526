package dev.semihard.engine.backend;

/**
 * <b>The backend interface: every kernel a backend implements, and nothing else.</b>
 *
 * <p>This file is the complete list. Autodiff, layers, models, optimizers and the trainer
 * call only these methods, so a backend never sees the chain rule and the engine never
 * knows which device runs. The reference backend ({@code dev.semihard.engine.reference})
 * is the specification of every method; the conformance suite holds the OpenCL and CUDA
 * backends to it kernel by kernel.
 *
 * <p>Conventions, for every method:
 * <ul>
 *   <li>Images are NCHW, matrices row-major, every element float32.</li>
 *   <li>Outputs are <b>overwritten</b>, never accumulated: gradients that must add up
 *       (a parameter used twice, two-pass training) are summed by the engine with {@link #axpy}.</li>
 *   <li>Outputs never alias inputs unless a method says so.</li>
 *   <li>Calls are asynchronous on device backends; {@link #download} and {@link #synchronize}
 *       are the only points where the host waits.</li>
 *   <li>Shapes are validated by the engine before a call; a backend may assume they are right.</li>
 * </ul>
 */
public interface Backend extends AutoCloseable {

    // ------------------------------------------------------------------ identity and memory

    /** Short name used by {@code --backend}: "reference", "opencl", "cuda". */
    String name();

    /** Human-readable device, e.g. "NVIDIA H200 (sm_90, 139 GiB)" or "Java, 2 threads". */
    String deviceDescription();

    /**
     * The precision of this backend's convolutions and linear layers: "fp32", or "tf32" for a backend
     * made with {@link BackendOptions#precision()} "tf32" that has tensor cores (CUDA). A backend without
     * a TF32 path answers "fp32" whatever it was asked for ({@link Backends#create} then says so).
     */
    default String precision() { return "fp32"; }

    /** Allocates {@code floats} float32 elements, zero-filled. */
    Buffer allocate(long floats);

    /**
     * Allocates {@code floats} float32 elements with <b>unspecified contents</b>, for an output that a
     * kernel overwrites entirely before anything reads it (every kernel's outputs are: see the
     * conventions above; the conformance suite checks that each output element is written). Saves
     * {@link #allocate}'s zero fill, one pass over the buffer (a launch on device backends). The
     * default zero-fills anyway; the reference backend fills with NaN, so that an engine test reading
     * an element no kernel wrote fails instead of seeing a convenient 0.
     */
    default Buffer allocateUninitialized(long floats) { return allocate(floats); }

    /** Copies {@code n} floats from host {@code src[srcOff..]} to {@code dst[dstOff..]}. */
    void upload(float[] src, int srcOff, Buffer dst, long dstOff, int n);

    /** Copies {@code n} floats from {@code src[srcOff..]} to host {@code dst[dstOff..]}; waits for prior work. */
    void download(Buffer src, long srcOff, float[] dst, int dstOff, int n);

    /** Device-to-device copy of {@code n} floats. */
    void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n);

    /** Sets {@code n} floats starting at {@code off} to {@code value}. */
    void fill(Buffer dst, long off, long n, float value);

    /** Waits until all queued work has finished (for timing and logging only). */
    void synchronize();

    /** Bytes of device memory currently allocated to buffers (0 when not tracked). */
    long bytesInUse();

    /** Highest {@link #bytesInUse()} since creation. */
    long peakBytes();

    /** Releases every device resource. */
    @Override
    void close();

    // ------------------------------------------------------------------ elementwise

    /** y[i] += alpha * x[i], i < n. */
    void axpy(long n, float alpha, Buffer x, Buffer y);

    /** x[i] *= alpha, i < n (in place). */
    void scale(long n, float alpha, Buffer x);

    /** y[i] = a[i] + b[i] (the residual add). y may alias a or b. */
    void add(long n, Buffer a, Buffer b, Buffer y);

    /** y[i] = max(x[i], 0). y may alias x. */
    void reluForward(long n, Buffer x, Buffer y);

    /** dx[i] = y[i] > 0 ? dy[i] : 0, from the forward output y. dx may alias dy. */
    void reluBackward(long n, Buffer y, Buffer dy, Buffer dx);

    /**
     * out[0] = sum of x[i]^2 over finite elements, out[1] = number of non-finite elements (NaN or +-Inf).
     * Used for gradient norms and the non-finite check. {@code out} is a host array of length >= 2.
     */
    void sumSquares(long n, Buffer x, float[] out);

    /**
     * {@link #sumSquares} of several buffers with one read back to the host: out[2i] and out[2i+1] are
     * sumSquares(ns[i], xs[i]). A training step checks every gradient with it (the non-finite count
     * names the layer, the sums give the gradient norm) while waiting for the device once, not once per
     * parameter. {@code out} has length >= 2 * xs.length. The default calls sumSquares per buffer.
     */
    default void sumSquaresMany(long[] ns, Buffer[] xs, float[] out) {
        checkSumSquaresMany(ns, xs, out);
        float[] one = new float[2];
        for (int i = 0; i < xs.length; i++) {
            sumSquares(ns[i], xs[i], one);
            out[2 * i] = one[0];
            out[2 * i + 1] = one[1];
        }
    }

    /** The argument check every {@link #sumSquaresMany} makes: one size per buffer, room for two results each. */
    static void checkSumSquaresMany(long[] ns, Buffer[] xs, float[] out) {
        if (ns.length != xs.length || out.length < 2 * xs.length)
            throw new IllegalArgumentException("sumSquaresMany: " + ns.length + " sizes, " + xs.length + " buffers and room for "
                    + out.length / 2 + " results; pass one size per buffer and an array of 2 floats per buffer");
    }

    // ------------------------------------------------------------------ convolution

    /** y = conv2d(x, w) (+ bias[k] when bias != null). Shapes in {@link ConvGeometry}. */
    void conv2dForward(ConvGeometry g, Buffer x, Buffer w, Buffer bias, Buffer y);

    /** dx = gradient of the input from dy and w. */
    void conv2dBackwardData(ConvGeometry g, Buffer dy, Buffer w, Buffer dx);

    /** dw = gradient of the filters from x and dy; dbias[k] = sum of dy over n, oh, ow when dbias != null. */
    void conv2dBackwardFilter(ConvGeometry g, Buffer x, Buffer dy, Buffer dw, Buffer dbias);

    // ------------------------------------------------------------------ pooling

    /** y = max over each window. */
    void maxPool2dForward(PoolGeometry g, Buffer x, Buffer y);

    /**
     * dx: each window's dy goes to the position of its maximum in x (the first one in row-major
     * window order on ties); overlapping windows add up. dx is fully overwritten.
     */
    void maxPool2dBackward(PoolGeometry g, Buffer x, Buffer dy, Buffer dx);

    /** y[n, c] = mean of x[n, c, :] over hw = H*W elements. */
    void globalAvgPoolForward(int n, int c, int hw, Buffer x, Buffer y);

    /** dx[n, c, i] = dy[n, c] / hw. */
    void globalAvgPoolBackward(int n, int c, int hw, Buffer dy, Buffer dx);

    // ------------------------------------------------------------------ batch norm 2d

    /**
     * Training mode: per channel mean and biased variance over (n, hw);
     * y = (x - mean) * invStd * gamma + beta with invStd = 1 / sqrt(var + eps).
     * Saves mean and invStd ([c] each) for the backward pass and updates the running
     * statistics PyTorch's way: running = (1 - momentum) * running + momentum * batch,
     * with the unbiased variance (count / (count - 1); count = n * hw) for runningVar.
     */
    void batchNormForwardTraining(int n, int c, int hw, float eps, float momentum,
                                  Buffer x, Buffer gamma, Buffer beta, Buffer y,
                                  Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar);

    /** Eval mode: y = (x - runningMean) / sqrt(runningVar + eps) * gamma + beta. */
    void batchNormForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                   Buffer runningMean, Buffer runningVar, Buffer y);

    /**
     * Backward of the training-mode forward: with xhat = (x - mean) * invStd,
     * dbeta = sum dy, dgamma = sum dy * xhat,
     * dx = gamma * invStd / count * (count * dy - dbeta - xhat * dgamma).
     */
    void batchNormBackward(int n, int c, int hw, Buffer x, Buffer dy, Buffer gamma,
                           Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta);

    // batch norm fused with the ReLU that follows it (conv -> bn -> relu): one pass over the
    // activation less in each direction, and no separate ReLU output or gradient buffer.

    /**
     * {@link #batchNormForwardTraining} followed by ReLU in the same pass: y = max(0, bn(x)), where
     * bn(x) is exactly the output of batchNormForwardTraining with the same arguments; saveMean,
     * saveInvStd and the running statistics are written exactly as there. y never aliases x.
     */
    void batchNormReluForwardTraining(int n, int c, int hw, float eps, float momentum,
                                      Buffer x, Buffer gamma, Buffer beta, Buffer y,
                                      Buffer saveMean, Buffer saveInvStd, Buffer runningMean, Buffer runningVar);

    /** {@link #batchNormForwardInference} followed by ReLU: y = max(0, (x - runningMean) / sqrt(runningVar + eps) * gamma + beta). */
    void batchNormReluForwardInference(int n, int c, int hw, float eps, Buffer x, Buffer gamma, Buffer beta,
                                       Buffer runningMean, Buffer runningVar, Buffer y);

    /**
     * Backward of {@link #batchNormReluForwardTraining} from its output y: exactly
     * {@link #batchNormBackward} with dy * [y > 0] (dy where y > 0, else 0) in place of dy,
     * the ReLU's mask taken from y as in {@link #reluBackward}. dy and y are not modified.
     */
    void batchNormReluBackward(int n, int c, int hw, Buffer x, Buffer y, Buffer dy, Buffer gamma,
                               Buffer saveMean, Buffer saveInvStd, Buffer dx, Buffer dgamma, Buffer dbeta);

    // ------------------------------------------------------------------ linear

    /** y[n, out] = x[n, in] * w[out, in]^T + b[out] (b may be null). */
    void linearForward(int n, int in, int out, Buffer x, Buffer w, Buffer b, Buffer y);

    /** dx[n, in] = dy[n, out] * w[out, in]. */
    void linearBackwardData(int n, int in, int out, Buffer dy, Buffer w, Buffer dx);

    /** dw[out, in] = dy^T * x; db[out] = sum over n of dy (db may be null). */
    void linearBackwardWeight(int n, int in, int out, Buffer x, Buffer dy, Buffer dw, Buffer db);

    // ------------------------------------------------------------------ embeddings

    /**
     * Row-wise L2 normalization: norms[i] = max(||x_i||, eps), y_i = x_i / norms[i]
     * (safe at zero norm). x: [n, d], norms: [n].
     */
    void l2NormalizeForward(int n, int d, float eps, Buffer x, Buffer y, Buffer norms);

    /**
     * dx_i = (dy_i - y_i * (y_i . dy_i)) / norms[i] where the norm was above eps,
     * and dx_i = dy_i / eps where it was clamped.
     */
    void l2NormalizeBackward(int n, int d, float eps, Buffer y, Buffer norms, Buffer dy, Buffer dx);

    /** dist[i, j] = distance(e_i, e_j), e: [n, d], dist: [n, n]; dist[i, i] = 0. */
    void pairwiseDistanceForward(int n, int d, Distance metric, Buffer e, Buffer dist);

    /** dE = gradient through the distance matrix from dDist ([n, n], any values). l2: 0 where dist = 0. */
    void pairwiseDistanceBackward(int n, int d, Distance metric, Buffer e, Buffer dist, Buffer dDist, Buffer dE);

    // ------------------------------------------------------------------ the fused triplet loss

    /**
     * Fused pairwise distance + mining + loss + gradient, exactly the semantics of
     * docs/benchmarks.md "Loss semantics". e: [b, d]; labels: b host ints; dE: [b, d]
     * overwritten with dLoss/dE; stats: {@link TripletStats#SIZE} floats, layout in {@link TripletStats}.
     * Memory: O(b^2) at most, never b^3. Degenerate batches give loss 0, zero dE, DEGENERATE = 1.
     */
    void tripletLoss(int b, int d, int[] labels, TripletOptions options, Buffer e, Buffer dE, Buffer stats);

    // ------------------------------------------------------------------ optimizer updates (in place)

    /** SGD with momentum; see {@link OptimizerParams.Sgd}. */
    void sgdUpdate(long n, OptimizerParams.Sgd p, Buffer param, Buffer grad, Buffer velocity);

    /** Adam / AdamW; see {@link OptimizerParams.Adam}. */
    void adamUpdate(long n, OptimizerParams.Adam p, Buffer param, Buffer grad, Buffer m, Buffer v);

    /** Adagrad; see {@link OptimizerParams.Adagrad}. */
    void adagradUpdate(long n, OptimizerParams.Adagrad p, Buffer param, Buffer grad, Buffer accumulator);
}
