import dev.semihard.engine.Tensor;
import dev.semihard.engine.backend.Backend;
import dev.semihard.engine.backend.Backends;
import dev.semihard.engine.mining.PKSampler;
import dev.semihard.engine.nn.EmbeddingModel;
import dev.semihard.engine.nn.Models;
import dev.semihard.trainer.data.DataSources;
import dev.semihard.trainer.io.Npy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes what `semihard train --recipe Q --seed S` starts from, so that PyTorch can train from
 * exactly the same point (trainer/python/recipe_q_torch.py --init-from DIR --batches DIR/batches.npy):
 * every initial state tensor of fmnist-cnn as DIR/name.npy, and the training-set indices of the
 * trainer's P x K batches (10 x 32, seeded as Trainer seeds its PKSampler) as DIR/batches.npy.
 *
 * Run it as a single-file program on the trainer's class path (no build step of its own):
 *   java -cp "trainer/target/semihard-trainer-0.1.0-SNAPSHOT.jar:trainer/target/lib/*" \
 *        tools/compare/DumpStart.java SEED DIR [STEPS]
 */
public class DumpStart {
    public static void main(String[] a) throws Exception {
        if (a.length < 2) {
            System.err.println("usage: DumpStart SEED DIR [STEPS (default 375)]");
            System.exit(2);
        }
        long seed = Long.parseLong(a[0]);
        Path out = Path.of(a[1]);
        int steps = a.length > 2 ? Integer.parseInt(a[2]) : 375;
        Files.createDirectories(out);
        Backend be = Backends.create("reference");
        try (EmbeddingModel m = Models.create("fmnist-cnn", be, seed)) {
            for (Map.Entry<String, Tensor> e : m.state().entrySet())
                Npy.writeFloat(out.resolve(e.getKey() + ".npy"), e.getValue().toArray(), e.getValue().shape());
        }
        DataSources.Data d = DataSources.loadIdxDir(DataSources.SYSTEM_FMNIST);
        // the same sampler and seed as dev.semihard.trainer.train.Trainer
        PKSampler s = new PKSampler(d.train().labels(), 10, 32, 0, seed ^ 0x5A5A_5A5AL);
        int[] all = new int[steps * 320];
        for (int i = 0; i < steps; i++) System.arraycopy(s.next().indices(), 0, all, i * 320, 320);
        Npy.writeLong(out.resolve("batches.npy"), all);
        System.out.println("wrote the initial state and " + steps + " batches of seed " + seed + " to " + out);
    }
}
