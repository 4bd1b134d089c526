package dev.semihard.engine.nn;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Buffer;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * <b>Precise batch norm</b>: re-estimates every batch-norm layer's running statistics with the
 * model's <i>current</i> weights, as the plain average over a number of batches (PyTorch's
 * {@code torch.optim.swa_utils.update_bn}; Wu and Johnson, "Rethinking 'Batch' in BatchNorm", 2021).
 *
 * <p>Why: during training the running statistics are an exponential moving average (momentum 0.1)
 * of batch statistics computed with <i>earlier</i> weights, so they mostly describe the last ~10
 * batches, and every one of those was normalized by weights that have moved since. With a constant
 * learning rate the mismatch is large enough to matter: on recipe Q (docs/benchmarks.md, seed 0)
 * the trainer's model scored verification 0.9025 with its training-time running statistics and 0.9272
 * after recalibration; PyTorch trained from the same initial weights and batches scored 0.9015 and
 * 0.9337, and evaluating it every 5 steps of the last 35 gave 0.920 to 0.929 before the final step
 * dropped it to 0.90 (trainer/README.md). Train-mode outputs and gradients never read the running
 * statistics, so recalibrating changes nothing about training.
 *
 * <p>How, per batch, with no autograd graph: every layer's running mean and variance are set to 0,
 * the model runs forward in training mode, and since each layer then stores {@code momentum * batch
 * statistic}, dividing by the momentum gives that batch's mean and unbiased variance of the layer's
 * input. The average over the batches (in double, on the host) becomes the new running statistics.
 * Layers are recalibrated together, in one forward per batch: a layer's input depends on the earlier
 * layers' training-mode (batch-statistics) outputs, never on their running statistics.
 */
public final class PreciseBatchNorm {
    private PreciseBatchNorm() {}

    /** The batch-norm layers of a model, in construction order. */
    public static List<BatchNorm2d> layers(Module model) {
        List<BatchNorm2d> out = new ArrayList<>();
        for (Module m : model.modules()) if (m instanceof BatchNorm2d bn) out.add(bn);
        return out;
    }

    /**
     * Replaces the running statistics of every {@link BatchNorm2d} of {@code model} with their average
     * over {@code batches} input batches; {@code makeBatch.apply(i)} makes batch i ([N, C, H, W], e.g.
     * with {@link Tensor#of}) inside an arena that is closed after that batch's forward pass.
     * The model's training/eval mode is restored afterwards.
     *
     * @return the number of batches used (0 leaves the statistics unchanged)
     * @throws IllegalArgumentException when a layer has momentum 0 (its statistics could not be read back)
     */
    public static int recalibrate(Module model, int batches, IntFunction<Tensor> makeBatch) {
        List<BatchNorm2d> bns = layers(model);
        if (bns.isEmpty() || batches <= 0) return 0;
        for (BatchNorm2d bn : bns) {
            if (!(bn.momentum() > 0))
                throw new IllegalArgumentException("precise batch norm: layer " + bn.moduleName()
                        + " has momentum " + bn.momentum() + ", so its batch statistics cannot be read back; use momentum > 0");
        }
        double[][] sumMean = new double[bns.size()][], sumVar = new double[bns.size()][];
        for (int i = 0; i < bns.size(); i++) {
            sumMean[i] = new double[(int) bns.get(i).runningMean().numel()];
            sumVar[i] = new double[(int) bns.get(i).runningVar().numel()];
        }
        boolean wasTraining = model.isTraining();
        int used = 0;
        model.train(true);
        try (Autograd.NoGrad g = Autograd.noGrad()) {
            for (int b = 0; b < batches; b++) {
                for (BatchNorm2d bn : bns) {
                    zero(bn.runningMean());
                    zero(bn.runningVar());
                }
                try (Arena a = Arena.open()) {
                    model.forward(makeBatch.apply(b));
                }
                for (int i = 0; i < bns.size(); i++) {
                    BatchNorm2d bn = bns.get(i);
                    add(sumMean[i], bn.runningMean().toArray(), bn.momentum());
                    add(sumVar[i], bn.runningVar().toArray(), bn.momentum());
                }
                used++;
            }
            for (int i = 0; i < bns.size(); i++) {
                set(bns.get(i).runningMean(), sumMean[i], used);
                set(bns.get(i).runningVar(), sumVar[i], used);
            }
        } finally {
            model.train(wasTraining);
        }
        return used;
    }

    /**
     * A device-side copy of every batch-norm running statistic, for {@link #restore} (e.g. around an
     * evaluation). The copy is exact on every backend (the reference backend keeps doubles); the caller
     * must pass it to {@link #restore} or close it.
     */
    public static Snapshot snapshot(Module model) {
        List<Buffer> out = new ArrayList<>();
        for (BatchNorm2d bn : layers(model)) {
            out.add(copyOf(bn.runningMean()));
            out.add(copyOf(bn.runningVar()));
        }
        return new Snapshot(out);
    }

    /** Puts back statistics taken by {@link #snapshot} of the same model, and closes the snapshot. */
    public static void restore(Module model, Snapshot saved) {
        try (saved) {
            List<BatchNorm2d> bns = layers(model);
            if (saved.buffers.size() != 2 * bns.size())
                throw new IllegalArgumentException("precise batch norm: snapshot of " + saved.buffers.size() / 2 + " layers, model has " + bns.size());
            for (int i = 0; i < bns.size(); i++) {
                copyInto(saved.buffers.get(2 * i), bns.get(i).runningMean());
                copyInto(saved.buffers.get(2 * i + 1), bns.get(i).runningVar());
            }
        }
    }

    /** Saved running statistics (device buffers: mean and variance of each layer, in layer order). */
    public static final class Snapshot implements AutoCloseable {
        private final List<Buffer> buffers;

        private Snapshot(List<Buffer> buffers) { this.buffers = buffers; }

        /** The saved values of statistic {@code i} (2 per layer: mean, variance), for tests and logs. */
        public float[] values(int i) {
            Buffer b = buffers.get(i);
            float[] v = new float[(int) b.size()];
            b.backend().download(b, 0, v, 0, v.length);
            return v;
        }

        public int size() { return buffers.size(); }

        @Override
        public void close() { for (Buffer b : buffers) b.close(); }
    }

    private static Buffer copyOf(Tensor t) {
        Buffer b = t.backend().allocate(t.numel());
        t.backend().copy(t.buffer(), 0, b, 0, t.numel());
        return b;
    }

    private static void copyInto(Buffer src, Tensor t) { t.backend().copy(src, 0, t.buffer(), 0, t.numel()); }

    private static void zero(Tensor t) { t.backend().fill(t.buffer(), 0, t.numel(), 0f); }

    private static void add(double[] sum, float[] scaled, float momentum) {
        for (int c = 0; c < sum.length; c++) sum[c] += scaled[c] / (double) momentum;
    }

    private static void set(Tensor t, double[] sum, int n) {
        float[] v = new float[sum.length];
        for (int c = 0; c < v.length; c++) v[c] = (float) (sum[c] / n);
        upload(t, v);
    }

    private static void upload(Tensor t, float[] v) {
        Backend b = t.backend();
        b.upload(v, 0, t.buffer(), 0, v.length);
    }
}
