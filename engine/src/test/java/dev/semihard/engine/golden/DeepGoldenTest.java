package dev.semihard.engine.golden;

import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.engine.reference.ReferenceBackend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * face-resnet18 and face-resnet34 against PyTorch 1.13 (float64), from the fixture of
 * {@code tools/golden/make_golden_deep.py}: torchvision's state names and order, eval- and train-mode
 * embeddings, the loss sum(E * R), every parameter gradient and the running statistics after one
 * train-mode forward. A batch of 2 at 32x32 (face-resnet18, D = 128) and 36x36 (face-resnet34, D = 64):
 * the networks end in a global average pool, so the size only changes the data, and 36 gives odd map
 * sizes (9 -> 5 -> 3) for the stride-2 convolutions and shortcuts. Tolerances as {@link GoldenTest}.
 */
class DeepGoldenTest {
    static ReferenceBackend be;
    static GoldenFixture fx;

    @BeforeAll
    static void start() {
        be = new ReferenceBackend(0);
        fx = GoldenFixture.load("golden-deep-v" + GoldenFixture.VERSION + ".bin", "make_golden_deep.py");
    }

    @AfterAll
    static void stop() { be.close(); }

    @ParameterizedTest
    @ValueSource(strings = {"face-resnet18", "face-resnet34"})
    void matchesPyTorch(String name) {
        Map<String, String> info = fx.model(name);
        int size = Integer.parseInt(info.get("input_size")), dim = Integer.parseInt(info.get("embedding_dim"));
        GoldenTest.Drawn d = GoldenTest.draw(fx, name);
        GoldenTest.Worst worst = new GoldenTest.Worst();
        try (EmbeddingModel m = Models.create(name, size, dim, be, 0)) {
            assertArrayEquals(new int[]{3, size, size}, m.inputShape());
            GoldenTest.forwardAndGradients(fx, name, m, d, worst);
        }
        worst.report(name);
    }
}
