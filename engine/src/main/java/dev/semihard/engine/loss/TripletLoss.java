package dev.semihard.engine.loss;

import dev.semihard.engine.Autograd;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.reference.ReferenceTriplet;

import java.util.Arrays;
import java.util.List;

/**
 * <b>The triplet loss with online mining, as a differentiable function.</b>
 *
 * <p>{@link #compute} makes exactly one call to the backend's fused kernel
 * {@link Backend#tripletLoss}, which computes the pairwise distances, mines the triplets, and writes
 * the loss, dLoss/dE and the mining statistics in one go (see
 * {@link dev.semihard.engine.reference.ReferenceTriplet} for the algorithm and the exact semantics).
 * The gradient is therefore already known when the forward pass ends: the recorded backward only
 * scales it by the upstream gradient and adds it to the embeddings' gradient. Nothing B x B x B is
 * ever allocated; the kernel itself needs O(B<sup>2</sup>).
 *
 * <pre>
 *   Tensor emb = model.forward(images);                          // [B, D], L2-normalized rows
 *   TripletLoss.Result r = TripletLoss.compute(emb, labels, TripletOptions.facenet(B));
 *   r.loss().backward();                                         // parameter gradients
 *   log(r.stats().loss(), r.stats().activeFraction());
 * </pre>
 *
 * <p>Host synchronization: the statistics (16 floats) are downloaded once per call, which is also
 * where the loss value for logging comes from. The backward needs the one-float upstream gradient on
 * the host ({@link Backend} scales by host scalars only): for {@code loss.backward()} it is the seed
 * 1, which the host knows ({@link Tensor#item()} reads nothing then), and dE is added without a copy;
 * only an explicit seed, or a loss used inside a larger expression, is downloaded.
 */
public final class TripletLoss {
    private TripletLoss() {}

    /** The loss (a one-element tensor, differentiable w.r.t. the embeddings) and the mining statistics. */
    public record Result(Tensor loss, TripletStats stats) {}

    /**
     * Loss, statistics and dLoss/dE without any graph (for two-pass training, where the gradient is fed
     * into the second pass chunk by chunk). {@code dE} has the embeddings' shape [B, D].
     */
    public record Gradient(Tensor loss, TripletStats stats, Tensor dE) {}

    /**
     * The fused triplet loss of {@code embeddings} [B, D] with {@code labels} (B ints).
     *
     * @throws IllegalArgumentException on a shape mismatch, a label count different from B, or
     *         {@code anchorRows > B}
     */
    public static Result compute(Tensor embeddings, int[] labels, TripletOptions opt) {
        Gradient g = run(embeddings, labels, opt);
        Tensor loss = g.loss();
        Tensor dE = g.dE();
        if (embeddings.requiresGrad() && Autograd.enabled()) {
            loss.record("tripletLoss", List.of(embeddings), up -> accumulateScaled(embeddings, dE, up));
        } else {
            dE.close();
        }
        return new Result(loss, g.stats());
    }

    /** The same kernel call as {@link #compute}, returning the gradient instead of recording a graph. */
    public static Gradient computeGradient(Tensor embeddings, int[] labels, TripletOptions opt) {
        return run(embeddings, labels, opt);
    }

    /**
     * Loss over <b>explicit</b> triplets, for offline mining ({@link dev.semihard.engine.mining.OfflineMiner}):
     * rows of {@code embeddings} [3T, D] come in threes (anchor, positive, negative) and the loss is the
     * mean over the T triplets of h(d(a,p) - d(a,n)) with the options' distance and (soft) margin; the
     * strategy and anchorRows are ignored. There is nothing to mine, so this path runs on the host in
     * double precision (O(T D): one download of the embeddings and one upload of the gradient) rather
     * than as a backend kernel.
     */
    public static Result explicitTriplets(Tensor embeddings, TripletOptions opt) {
        if (embeddings.rank() != 2 || embeddings.dim(0) % 3 != 0)
            throw new IllegalArgumentException("explicitTriplets: embeddings must be [3T, D] (anchor, positive, negative rows), got "
                    + Arrays.toString(embeddings.shape()));
        Backend be = embeddings.backend();
        int t = embeddings.dim(0) / 3, d = embeddings.dim(1);
        float[] ef = embeddings.toArray();
        double[] e = new double[ef.length], dEd = new double[ef.length], st = new double[TripletStats.SIZE];
        for (int i = 0; i < ef.length; i++) e[i] = ef[i];
        ReferenceTriplet.explicitTriplets(t, d, opt, e, dEd, st);
        float[] dEf = new float[ef.length], sf = new float[TripletStats.SIZE];
        for (int i = 0; i < dEf.length; i++) dEf[i] = (float) dEd[i];
        for (int i = 0; i < sf.length; i++) sf[i] = (float) st[i];
        Tensor loss = Tensor.of(be, new float[] {sf[TripletStats.LOSS]}, 1);
        if (embeddings.requiresGrad() && Autograd.enabled()) {
            Tensor dE = Tensor.of(be, dEf, embeddings.shape());
            loss.record("explicitTriplets", List.of(embeddings), up -> accumulateScaled(embeddings, dE, up));
        }
        return new Result(loss, TripletStats.of(sf));
    }

    private static Gradient run(Tensor embeddings, int[] labels, TripletOptions opt) {
        if (opt == null) throw new IllegalArgumentException("tripletLoss: options are required (e.g. TripletOptions.facenet(B))");
        if (embeddings.rank() != 2)
            throw new IllegalArgumentException("tripletLoss: embeddings must be [B, D], got shape " + Arrays.toString(embeddings.shape()));
        int b = embeddings.dim(0), d = embeddings.dim(1);
        if (labels == null || labels.length != b)
            throw new IllegalArgumentException("tripletLoss: " + (labels == null ? "no" : labels.length) + " labels for " + b
                    + " embedding rows (shape " + Arrays.toString(embeddings.shape()) + "); pass one label per row");
        if (opt.anchorRows() > b)
            throw new IllegalArgumentException("tripletLoss: anchorRows " + opt.anchorRows() + " exceeds the batch of " + b
                    + " rows; use opt.withAnchorRows(" + b + ") when the batch has no extra negatives");
        Backend be = embeddings.backend();
        Tensor dE = Tensor.zeros(be, b, d);
        Tensor stats = Tensor.zeros(be, TripletStats.SIZE);
        be.tripletLoss(b, d, labels, opt, embeddings.buffer(), dE.buffer(), stats.buffer());
        Tensor loss = Tensor.zeros(be, 1);
        be.copy(stats.buffer(), TripletStats.LOSS, loss.buffer(), 0, 1);   // stays on the device
        float[] s = stats.toArray();
        stats.close();
        return new Gradient(loss, TripletStats.of(s), dE);
    }

    /** embeddings.grad += upstream * dE (upstream: the one-element gradient of the loss). */
    private static void accumulateScaled(Tensor embeddings, Tensor dE, Tensor upstream) {
        float u = upstream.item();
        if (u == 1f) {
            embeddings.accumulateGrad(dE);
        } else {
            Tensor scaled = Tensor.zeros(dE.backend(), dE.shape());
            dE.backend().copy(dE.buffer(), 0, scaled.buffer(), 0, dE.numel());
            dE.backend().scale(dE.numel(), u, scaled.buffer());
            embeddings.accumulateGrad(scaled);
            scaled.close();
        }
    }
}
