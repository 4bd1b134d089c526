package dev.semihard.engine.nn;

import dev.semihard.engine.Rng;
import dev.semihard.engine.backend.Backend;

import java.util.List;

/**
 * The embedding models (the two reference models of {@code docs/benchmarks.md} and the two deeper face
 * models), built from the layer API with He initialization from {@code new Rng(seed)}
 * (same seed, same weights, on every backend). Every "conv" is 3x3, padding 1, no bias, then batch
 * norm, then ReLU (the batch norm and the ReLU after it run as one fused op,
 * {@code BatchNorm2d(..., relu = true)}); every model ends in a global average pool, a linear layer
 * (zero bias) to the embedding dimension D (default {@value #EMBEDDING_DIM}, any D in
 * [{@value #MIN_EMBEDDING_DIM}, {@value #MAX_EMBEDDING_DIM}]: {@code --embedding-dim}) and a row-wise L2
 * normalization.
 *
 * <p>The face models are fully convolutional up to the global average pool, so the input size only
 * changes the data: {@code --input-size S} gives 3xSxS inputs, S in [{@value #MIN_FACE_INPUT},
 * {@value #MAX_FACE_INPUT}], default {@value #FACE_INPUT}; 112 and 160 are the sizes aligned face
 * data sets ship at. The weights (names, shapes, values for a seed) do not depend on S. fmnist-cnn
 * takes 1x28x28 only.
 *
 * <p><b>fmnist-cnn</b>, input 1x28x28 (about 20 MFLOP/image forward). State names:
 * <pre>
 *   conv1.weight [32,1,3,3]    bn1.{weight,bias,running_mean,running_var} [32]   maxpool 2: 28 -> 14
 *   conv2.weight [64,32,3,3]   bn2.* [64]                                        maxpool 2: 14 -> 7
 *   conv3.weight [128,64,3,3]  bn3.* [128]                                       maxpool 2: 7 -> 3
 *   conv4.weight [256,128,3,3] bn4.* [256]
 *   global average pool, fc.weight [D,256], fc.bias [D], L2
 * </pre>
 *
 * <p><b>face-resnet10</b>, input 3x96x96 by default (0.30 GFLOP/image forward at 96, 0.41 at 112,
 * 0.83 at 160; 1.26 M parameters). State names:
 * <pre>
 *   conv1.weight [32,3,3,3]  bn1.* [32]  maxpool 2: 96 -> 48
 *   block1 (32 -> 32, stride 1, identity shortcut): block1.conv1.weight, block1.bn1.*, block1.conv2.weight, block1.bn2.*
 *   block2 (32 -> 64, stride 2): block2.conv1/bn1/conv2/bn2 + block2.downsample.0.weight [64,32,1,1], block2.downsample.1.*
 *   block3 (64 -> 128, stride 2), block4 (128 -> 256, stride 2): same pattern
 *   global average pool, fc.weight [D,256], fc.bias [D], L2
 * </pre>
 *
 * <p><b>face-resnet18</b> and <b>face-resnet34</b>: ResNet-18 and ResNet-34 (He et al. 2016) with
 * basic blocks 2-2-2-2 and 3-4-6-3, widths 64-128-256-512, strides 1, 2, 2, 2, for 96-160 px faces.
 * Stem: conv3x3 3 -> 64 stride 1, batch norm + ReLU, maxpool 2 (ImageNet's stem is a 7x7 stride-2
 * conv and a stride-2 maxpool, a 4x reduction meant for 224 px images; on a 96 px face it would leave
 * 3x3 maps for the last stage). With this stem a 112 px face reaches layer1 at 56x56 and layer4 at
 * 7x7, the resolution schedule of ArcFace's IResNet at 112 px and of torchvision's ResNet at 224
 * px; 96 px gives 48 -> 6, 160 px 80 -> 10. Forward cost (multiply-adds x 2):
 * <pre>
 *                     params     96 px        112 px       160 px
 *   face-resnet18     11.23 M    2.5 GFLOP    3.4 GFLOP    7.0 GFLOP
 *   face-resnet34     21.34 M    5.2 GFLOP    7.1 GFLOP    14.6 GFLOP
 * </pre>
 * (parameters at D = 128; a training step costs about 3x the forward). State names are
 * torchvision's ({@code torchvision.models.resnet18} with {@code conv1} replaced by a 3x3 stride-1
 * conv, {@code maxpool} by {@code MaxPool2d(2)} and {@code fc} by {@code Linear(512, D)} loads them with
 * {@code strict=True}, num_batches_tracked aside):
 * <pre>
 *   conv1.weight [64,3,3,3]  bn1.* [64]  maxpool 2
 *   layer1.0 .. layer1.{n1-1} (64 -> 64, stride 1): layer1.0.conv1.weight, layer1.0.bn1.*, layer1.0.conv2.weight, layer1.0.bn2.*
 *   layer2.0 (64 -> 128, stride 2): layer2.0.conv1/bn1/conv2/bn2 + layer2.0.downsample.0.weight [128,64,1,1], layer2.0.downsample.1.*
 *   layer2.1 .. (128 -> 128, stride 1, identity shortcut); layer3 (-> 256), layer4 (-> 512): same pattern
 *   global average pool, fc.weight [D,512], fc.bias [D], L2
 * </pre>
 * The PyTorch twins in {@code tools/golden/make_golden.py} and {@code tools/golden/make_golden_deep.py}
 * use exactly these names.
 */
public final class Models {
    public static final String FMNIST_CNN = "fmnist-cnn";
    public static final String FACE_RESNET10 = "face-resnet10";
    public static final String FACE_RESNET18 = "face-resnet18";
    public static final String FACE_RESNET34 = "face-resnet34";
    /** The default embedding dimension D. */
    public static final int EMBEDDING_DIM = 128;
    public static final int MIN_EMBEDDING_DIM = 2, MAX_EMBEDDING_DIM = 2048;
    /** fmnist-cnn's only input size. */
    public static final int FMNIST_INPUT = 28;
    /** The face models' default input size, and the range they accept. */
    public static final int FACE_INPUT = 96, MIN_FACE_INPUT = 32, MAX_FACE_INPUT = 512;

    private Models() {}

    /** The model names {@link #create} accepts. */
    public static List<String> names() { return List.of(FMNIST_CNN, FACE_RESNET10, FACE_RESNET18, FACE_RESNET34); }

    /** The input size (height = width) a model takes when none is given: 28 for fmnist-cnn, 96 for the face models. */
    public static int defaultInputSize(String name) {
        checkName(name);
        return FMNIST_CNN.equals(name) ? FMNIST_INPUT : FACE_INPUT;
    }

    /** Input channels: 1 for fmnist-cnn (grey), 3 for the face models (RGB). */
    public static int inputChannels(String name) {
        checkName(name);
        return FMNIST_CNN.equals(name) ? 1 : 3;
    }

    /**
     * Checks a model name, input size and embedding dimension together; the message names the option
     * ({@code --model}, {@code --input-size}, {@code --embedding-dim}) and what to pass instead.
     */
    public static void check(String name, int inputSize, int embeddingDim) {
        checkName(name);
        if (FMNIST_CNN.equals(name)) {
            if (inputSize != FMNIST_INPUT)
                throw new IllegalArgumentException("--input-size " + inputSize + ": fmnist-cnn takes 28x28 images only; drop --input-size,"
                        + " or use a face model (" + FACE_RESNET10 + ", " + FACE_RESNET18 + ", " + FACE_RESNET34 + ") for other sizes");
        } else if (inputSize < MIN_FACE_INPUT || inputSize > MAX_FACE_INPUT) {
            throw new IllegalArgumentException("--input-size " + inputSize + ": " + name + " takes square images of " + MIN_FACE_INPUT
                    + " to " + MAX_FACE_INPUT + " pixels (96 by default; aligned face sets ship at 112 or 160)");
        }
        if (embeddingDim < MIN_EMBEDDING_DIM || embeddingDim > MAX_EMBEDDING_DIM)
            throw new IllegalArgumentException("--embedding-dim " + embeddingDim + ": must be in [" + MIN_EMBEDDING_DIM + ", "
                    + MAX_EMBEDDING_DIM + "] (default " + EMBEDDING_DIM + ")");
    }

    private static void checkName(String name) {
        if (name == null) throw new IllegalArgumentException("model name is required: use one of " + names());
        if (!names().contains(name)) throw new IllegalArgumentException("unknown model '" + name + "': use one of " + names());
    }

    /** Builds a model at its default input size and D = {@value #EMBEDDING_DIM}, He-initialized from {@code seed}, in training mode. */
    public static EmbeddingModel create(String name, Backend backend, long seed) {
        return create(name, name == null ? 0 : defaultInputSize(name), EMBEDDING_DIM, backend, seed);
    }

    /**
     * Builds a model for square inputs of {@code inputSize} pixels with embeddings of {@code embeddingDim},
     * He-initialized from {@code seed}, in training mode; {@link #check} says what is allowed.
     */
    public static EmbeddingModel create(String name, int inputSize, int embeddingDim, Backend backend, long seed) {
        check(name, inputSize, embeddingDim);
        Rng rng = new Rng(seed);
        int[] in = {inputChannels(name), inputSize, inputSize};
        Sequential body = switch (name) {
            case FMNIST_CNN -> fmnistCnn(backend, rng, embeddingDim);
            case FACE_RESNET10 -> faceResnet10(backend, rng, embeddingDim);
            case FACE_RESNET18 -> faceResnet(backend, rng, new int[]{2, 2, 2, 2}, embeddingDim);
            case FACE_RESNET34 -> faceResnet(backend, rng, new int[]{3, 4, 6, 3}, embeddingDim);
            default -> throw new IllegalStateException(name);
        };
        return new EmbeddingModel(name, in, embeddingDim, body);
    }

    private static Sequential fmnistCnn(Backend b, Rng rng, int dim) {
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
        return body.add(new GlobalAvgPool()).add(new Linear(b, "fc", 256, dim, rng));
    }

    /** conv3x3(3 -> width, stride 1), batch norm + ReLU (fused), maxpool 2: the face models' stem. */
    private static Sequential faceStem(Backend b, Rng rng, int width) {
        return new Sequential("")
            .add(new Conv2d(b, "conv1", 3, width, 3, 1, 1, rng))
            .add(new BatchNorm2d(b, "bn1", width, true))   // bn + ReLU, fused
            .add(new MaxPool2d(2));
    }

    private static Sequential faceResnet10(Backend b, Rng rng, int dim) {
        return faceStem(b, rng, 32)
            .add(new BasicBlock(b, "block1", 32, 32, 1, rng))
            .add(new BasicBlock(b, "block2", 32, 64, 2, rng))
            .add(new BasicBlock(b, "block3", 64, 128, 2, rng))
            .add(new BasicBlock(b, "block4", 128, 256, 2, rng))
            .add(new GlobalAvgPool())
            .add(new Linear(b, "fc", 256, dim, rng));
    }

    /** ResNet-18 / -34 for faces: the stem, stages of {@code blocks[i]} basic blocks of widths 64-128-256-512. */
    private static Sequential faceResnet(Backend b, Rng rng, int[] blocks, int dim) {
        int[] widths = {64, 128, 256, 512};
        Sequential body = faceStem(b, rng, widths[0]);
        int in = widths[0];
        for (int stage = 0; stage < blocks.length; stage++) {
            for (int j = 0; j < blocks[stage]; j++) {
                int stride = stage > 0 && j == 0 ? 2 : 1;
                body.add(new BasicBlock(b, "layer" + (stage + 1) + "." + j, in, widths[stage], stride, rng));
                in = widths[stage];
            }
        }
        return body.add(new GlobalAvgPool()).add(new Linear(b, "fc", in, dim, rng));
    }
}
