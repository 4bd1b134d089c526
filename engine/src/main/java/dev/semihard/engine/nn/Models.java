package dev.semihard.engine.nn;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Backend;

import java.util.List;

/**
 * The two reference models of {@code docs/benchmarks.md}, built from the layer API with He
 * initialization from {@code new Rng(seed)} (same seed, same weights, on every backend).
 * Every "conv" is 3x3, padding 1, no bias, then batch norm, then ReLU (the batch norm and the ReLU
 * after it run as one fused op, {@code BatchNorm2d(..., relu = true)}); both end in a linear
 * layer 256 -> 128 (zero bias) and a row-wise L2 normalization.
 *
 * <p><b>fmnist-cnn</b>, input 1x28x28 (about 20 MFLOP/image forward). State names:
 * <pre>
 *   conv1.weight [32,1,3,3]    bn1.{weight,bias,running_mean,running_var} [32]   maxpool 2: 28 -> 14
 *   conv2.weight [64,32,3,3]   bn2.* [64]                                        maxpool 2: 14 -> 7
 *   conv3.weight [128,64,3,3]  bn3.* [128]                                       maxpool 2: 7 -> 3
 *   conv4.weight [256,128,3,3] bn4.* [256]
 *   global average pool, fc.weight [128,256], fc.bias [128], L2
 * </pre>
 *
 * <p><b>face-resnet10</b>, input 3x96x96. State names:
 * <pre>
 *   conv1.weight [32,3,3,3]  bn1.* [32]  maxpool 2: 96 -> 48
 *   block1 (32 -> 32, stride 1, identity shortcut): block1.conv1.weight, block1.bn1.*, block1.conv2.weight, block1.bn2.*
 *   block2 (32 -> 64, stride 2): block2.conv1/bn1/conv2/bn2 + block2.downsample.0.weight [64,32,1,1], block2.downsample.1.*
 *   block3 (64 -> 128, stride 2), block4 (128 -> 256, stride 2): same pattern
 *   global average pool, fc.weight [128,256], fc.bias [128], L2
 * </pre>
 * The PyTorch twins in {@code tools/golden/make_golden.py} use exactly these names.
 */
public final class Models {
    public static final String FMNIST_CNN = "fmnist-cnn";
    public static final String FACE_RESNET10 = "face-resnet10";
    public static final int EMBEDDING_DIM = 128;

    private Models() {}

    /** The model names {@link #create} accepts. */
    public static List<String> names() { return List.of(FMNIST_CNN, FACE_RESNET10); }

    /** Builds a model with He-initialized weights from {@code seed}, in training mode. */
    public static EmbeddingModel create(String name, Backend backend, long seed) {
        if (name == null) throw new IllegalArgumentException("model name is required: use one of " + names());
        Rng rng = new Rng(seed);
        return switch (name) {
            case FMNIST_CNN -> fmnistCnn(backend, rng);
            case FACE_RESNET10 -> faceResnet10(backend, rng);
            default -> throw new IllegalArgumentException("unknown model '" + name + "': use one of " + names());
        };
    }

    private static EmbeddingModel fmnistCnn(Backend b, Rng rng) {
        Sequential body = new Sequential("");
        int[] widths = {32, 64, 128, 256};
        int in = 1;
        for (int i = 0; i < widths.length; i++) {
            int id = i + 1;
            body.add(new Conv2d(b, "conv" + id, in, widths[i], 3, 1, 1, rng))
                .add(new BatchNorm2d(b, "bn" + id, widths[i], true));   // bn + ReLU, fused
            if (i < 3) body.add(new MaxPool2d(2));
            in = widths[i];
        }
        body.add(new GlobalAvgPool()).add(new Linear(b, "fc", 256, EMBEDDING_DIM, rng));
        return new EmbeddingModel(FMNIST_CNN, new int[]{1, 28, 28}, EMBEDDING_DIM, body);
    }

    private static EmbeddingModel faceResnet10(Backend b, Rng rng) {
        Sequential body = new Sequential("");
        body.add(new Conv2d(b, "conv1", 3, 32, 3, 1, 1, rng))
            .add(new BatchNorm2d(b, "bn1", 32, true))   // bn + ReLU, fused
            .add(new MaxPool2d(2))
            .add(new BasicBlock(b, "block1", 32, 32, 1, rng))
            .add(new BasicBlock(b, "block2", 32, 64, 2, rng))
            .add(new BasicBlock(b, "block3", 64, 128, 2, rng))
            .add(new BasicBlock(b, "block4", 128, 256, 2, rng))
            .add(new GlobalAvgPool())
            .add(new Linear(b, "fc", 256, EMBEDDING_DIM, rng));
        return new EmbeddingModel(FACE_RESNET10, new int[]{3, 96, 96}, EMBEDDING_DIM, body);
    }
}
