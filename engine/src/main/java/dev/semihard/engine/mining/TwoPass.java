package dev.semihard.engine.mining;

import dev.semihard.engine.Arena;
import dev.semihard.engine.Autograd;
import dev.semihard.engine.Parameter;
import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.TripletOptions;
import dev.semihard.engine.backend.TripletStats;
import dev.semihard.engine.loss.TripletLoss;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Module;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * <b>Two-pass training: FaceNet-sized mining batches (1,800 images) on any memory.</b>
 *
 * <p>Mining needs every embedding of the batch at once, but back-propagation needs the activations of
 * every image, which is what runs out of memory. The loss, however, only talks to the network through
 * the embeddings E: once dLoss/dE is known, each image's contribution to the parameter gradient can be
 * computed separately. So:
 * <ol>
 *   <li><b>Pass 1</b> (no graph): embed the batch chunk by chunk under {@link Autograd#noGrad()}; each
 *       chunk's activations are freed as soon as its embeddings are copied into E [B, D].</li>
 *   <li><b>Loss</b>: one call of the fused kernel on the whole E gives the loss, the statistics and
 *       dLoss/dE ({@link TripletLoss#computeGradient}); mining sees the full batch.</li>
 *   <li><b>Pass 2</b>: for each chunk again, forward with the graph, then
 *       {@code chunkEmbeddings.backward(dE[chunk rows])}. Parameter gradients add up across chunks
 *       (that is how {@link Tensor#accumulateGrad} works), giving exactly the gradient of the full batch.</li>
 * </ol>
 * Peak memory: the activations of one chunk, plus E and dE. Cost: one extra forward pass.
 *
 * <p><b>Batch norm.</b> In training mode batch norm normalizes with the statistics of the batch it sees,
 * here a chunk, so two-pass gradients equal single-pass gradients exactly only when every layer treats
 * rows independently (eval-mode batch norm, or none); with training-mode batch norm they are the
 * gradients of a model that normalizes per chunk (as with "ghost batch norm"), which is what pass 1
 * also computed, so the two passes stay consistent. Pass 1 must not update the running statistics a
 * second time: they are saved before pass 1 and restored after it, so only pass 2 updates them (once
 * per chunk).
 *
 * <p>The caller zeroes gradients before and runs the optimizer after, as for a single-pass step:
 * <pre>
 *   opt.zeroGrad();
 *   TripletStats s = twoPass.step(images, labels, TripletOptions.facenet(B));
 *   opt.step();
 * </pre>
 */
public final class TwoPass {
    /** Supplies rows [start, start + n) of the batch's images as a tensor [n, C, H, W] on the model's backend. */
    @FunctionalInterface
    public interface Chunks {
        Tensor rows(int start, int n);
    }

    private final Module model;
    private final int embeddingDim;
    private final int chunkSize;

    /** Two-pass training of an {@link EmbeddingModel} with chunks of at most {@code chunkSize} images. */
    public TwoPass(EmbeddingModel model, int chunkSize) { this(model, model.embeddingDim(), chunkSize); }

    /**
     * @param model         maps [n, ...] inputs to [n, embeddingDim] embeddings
     * @param embeddingDim  D
     * @param chunkSize     images per forward/backward chunk (&gt;= 1)
     */
    public TwoPass(Module model, int embeddingDim, int chunkSize) {
        if (model == null) throw new IllegalArgumentException("two-pass: model is required");
        if (chunkSize < 1) throw new IllegalArgumentException("two-pass: chunk size must be >= 1, got " + chunkSize);
        if (embeddingDim < 1) throw new IllegalArgumentException("two-pass: embedding dimension must be >= 1, got " + embeddingDim);
        this.model = model;
        this.embeddingDim = embeddingDim;
        this.chunkSize = chunkSize;
    }

    public int chunkSize() { return chunkSize; }

    /**
     * One step over a batch already on the device: images [B, ...], B labels. Accumulates the parameter
     * gradients of the batch's triplet loss; returns the loss and mining statistics.
     */
    public TripletStats step(Tensor images, int[] labels, TripletOptions opt) {
        int b = images.dim(0);
        if (labels == null || labels.length != b)
            throw new IllegalArgumentException("two-pass: " + (labels == null ? "no" : labels.length) + " labels for a batch of "
                    + b + " images (shape " + Arrays.toString(images.shape()) + ")");
        int[] shape = images.shape();
        long per = images.numel() / Math.max(b, 1);
        Backend be = images.backend();
        return step(b, labels, opt, (start, n) -> {
            shape[0] = n;
            Tensor x = Tensor.zeros(be, shape);
            be.copy(images.buffer(), start * per, x.buffer(), 0, n * per);
            return x;
        });
    }

    /**
     * One step over a batch of {@code b} images produced chunk by chunk by {@code chunks} (e.g. uploaded
     * from host memory, so the whole batch never sits on the device). Each chunk is requested twice.
     */
    public TripletStats step(int b, int[] labels, TripletOptions opt, Chunks chunks) {
        if (labels == null || labels.length != b)
            throw new IllegalArgumentException("two-pass: " + (labels == null ? "no" : labels.length) + " labels for a batch of " + b + " images");
        Backend be = null;
        try (Arena step = Arena.open()) {
            // ---- pass 1: embeddings only, no graph, running statistics restored afterwards
            List<Tensor[]> saved = saveBuffers();
            Tensor e = null;
            try (Autograd.NoGrad ng = Autograd.noGrad()) {
                for (int start = 0; start < b; start += chunkSize) {
                    int n = Math.min(chunkSize, b - start);
                    if (e == null) {
                        Tensor probe = chunks.rows(start, n);     // first chunk: learn the backend, then allocate E here
                        be = probe.backend();
                        e = Tensor.zeros(be, b, embeddingDim);
                        embedInto(probe, e, start, n);
                        probe.close();
                        continue;
                    }
                    try (Arena chunk = Arena.open()) {
                        embedInto(chunks.rows(start, n), e, start, n);
                    }
                }
            }
            restoreBuffers(saved);
            if (e == null) {   // b == 0
                return TripletStats.of(degenerate());
            }
            // ---- the loss over the whole batch, and dLoss/dE
            TripletLoss.Gradient g = TripletLoss.computeGradient(e, labels, opt);
            if (g.stats().degenerate()) return g.stats();
            // ---- pass 2: recompute each chunk with the graph and push its slice of dE through it
            for (int start = 0; start < b; start += chunkSize) {
                int n = Math.min(chunkSize, b - start);
                try (Arena chunk = Arena.open()) {
                    Tensor out = model.forward(chunks.rows(start, n));
                    checkShape(out, n);
                    Tensor slice = Tensor.zeros(be, n, embeddingDim);
                    be.copy(g.dE().buffer(), (long) start * embeddingDim, slice.buffer(), 0, (long) n * embeddingDim);
                    if (out.requiresGrad()) out.backward(slice);
                }
            }
            return g.stats();
        }
    }

    private void embedInto(Tensor x, Tensor e, int start, int n) {
        try (Arena chunk = Arena.open()) {
            Tensor out = model.forward(x);
            checkShape(out, n);
            e.backend().copy(out.buffer(), 0, e.buffer(), (long) start * embeddingDim, (long) n * embeddingDim);
        }
    }

    private void checkShape(Tensor out, int n) {
        if (out.rank() != 2 || out.dim(0) != n || out.dim(1) != embeddingDim)
            throw new IllegalStateException("two-pass: the model produced " + Arrays.toString(out.shape()) + " for a chunk of " + n
                    + " images, expected [" + n + ", " + embeddingDim + "]");
    }

    /** Copies of every non-parameter state tensor (batch-norm running statistics), with the live tensor. */
    private List<Tensor[]> saveBuffers() {
        List<Tensor[]> out = new ArrayList<>();
        for (Map.Entry<String, Tensor> en : model.state().entrySet()) {
            Tensor live = en.getValue();
            if (live instanceof Parameter) continue;
            Tensor copy = Tensor.zeros(live.backend(), live.shape());
            live.backend().copy(live.buffer(), 0, copy.buffer(), 0, live.numel());
            out.add(new Tensor[] {live, copy});
        }
        return out;
    }

    private static void restoreBuffers(List<Tensor[]> saved) {
        for (Tensor[] s : saved) s[0].backend().copy(s[1].buffer(), 0, s[0].buffer(), 0, s[0].numel());
    }

    private static float[] degenerate() {
        float[] s = new float[TripletStats.SIZE];
        s[TripletStats.DEGENERATE] = 1;
        return s;
    }
}
