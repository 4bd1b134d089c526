package dev.semihard.engine.nn;

import dev.semihard.engine.Tensor;
import dev.semihard.engine.ops.F;

import java.util.Arrays;

/**
 * A network that maps images [N, C, H, W] to L2-normalized embeddings [N, D]: a body whose output is
 * [N, D], then a row-wise L2 normalization. Built by {@link Models#create}.
 */
public final class EmbeddingModel extends Module {
    private final String modelName;
    private final int[] inputShape;
    private final int embeddingDim;
    private final Module body;

    public EmbeddingModel(String modelName, int[] inputShape, int embeddingDim, Module body) {
        super("");
        if (inputShape.length != 3) throw new IllegalArgumentException("input shape must be {C, H, W}, got " + Arrays.toString(inputShape));
        this.modelName = modelName;
        this.inputShape = inputShape.clone();
        this.embeddingDim = embeddingDim;
        this.body = addChild(body);
    }

    /** The registry name, e.g. "fmnist-cnn". */
    public String name() { return modelName; }

    /** {C, H, W} of one input image. */
    public int[] inputShape() { return inputShape.clone(); }

    /** D, the length of an embedding (128 unless the model was built with another {@code --embedding-dim}). */
    public int embeddingDim() { return embeddingDim; }

    /** The layers before the L2 normalization. */
    public Module body() { return body; }

    /** x: [N, C, H, W] with {C, H, W} = {@link #inputShape()}; returns [N, D] with unit rows. */
    @Override
    public Tensor forward(Tensor x) {
        int[] s = x.shape();
        if (s.length != 4 || s[1] != inputShape[0] || s[2] != inputShape[1] || s[3] != inputShape[2])
            throw new IllegalArgumentException(modelName + ": input must have shape [N, " + inputShape[0] + ", " + inputShape[1]
                    + ", " + inputShape[2] + "] but has shape " + Arrays.toString(s));
        Tensor h = body.forward(x);
        if (h.rank() != 2 || h.dim(1) != embeddingDim)
            throw new IllegalStateException(modelName + ": body produced " + Arrays.toString(h.shape()) + ", expected [N, " + embeddingDim + "]");
        return F.l2Normalize(h);
    }

    @Override
    public String toString() {
        return modelName + " (" + parameterCount() + " parameters, input " + Arrays.toString(inputShape) + ", D = " + embeddingDim + ")";
    }
}
