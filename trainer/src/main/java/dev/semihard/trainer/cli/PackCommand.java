package dev.semihard.trainer.cli;

import dev.semihard.engine.nn.Models;
import dev.semihard.trainer.data.Idx;
import dev.semihard.trainer.data.PackFormat;
import dev.semihard.trainer.data.PackedDataset;
import dev.semihard.trainer.data.Packer;
import dev.semihard.trainer.util.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code semihard pack}: an image folder, LFW folder or IDX folder into a pack; {@code --verify} checks one. */
@Command(name = "pack", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Pack an image folder, LFW folder or IDX files once into shards of uint8 pixels with an identity index.",
                "Decodes every image on all cores, resizes and center-crops it to a stored size (docs/pack-format.md). Train, eval",
                "and embed read the pack with --data OUT, from disk, whatever its size. Files that are not images are skipped",
                "and listed in OUT/skipped.txt (--strict stops at the first). The pack appears only when complete.",
                "  semihard pack faces/ -o faces.pack            one sub-folder per identity (LFW: pairs.txt is kept)",
                "  semihard pack --verify faces.pack             check every shard's checksum"})
public final class PackCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "SRC", description = "image folder (one sub-folder per identity), LFW folder, or IDX folder")
    Path src;

    @Option(names = {"-o", "--out"}, paramLabel = "OUT", description = "the pack folder to create")
    Path out;

    @Option(names = "--verify", paramLabel = "PACK", description = "check a pack: its index, every shard's size and CRC-32; nothing is written")
    Path verify;

    @Mixin
    ModelOptionsMixin modelOptions;

    @Option(names = "--size", paramLabel = "S", description = "stored height and width (default: the model's input plus 1/6 for random crops:"
            + " 112 for 96, 130 for 112, 186 for 160)")
    Integer size;

    @Option(names = "--channels", paramLabel = "C", description = "1 (gray) or 3 (RGB); default: the model's")
    Integer channels;

    @Option(names = "--strict", description = "stop at the first file that is not a decodable image (default: skip it and list it)")
    boolean strict;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "decoding threads (0 = all cores)")
    int threads;

    @Option(names = "--force", description = "replace an existing pack at OUT (once the new one is complete)")
    boolean force;

    @Option(names = "--idx-split", paramLabel = "NAME", defaultValue = "train", description = "IDX sources: train or t10k (default ${DEFAULT-VALUE})")
    String idxSplit;

    @Option(names = "--shard-bytes", paramLabel = "N", hidden = true, description = "largest shard in bytes (tests)")
    Long shardBytes;

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut();
        if (verify != null) {
            if (src != null || out != null) throw new ParameterException(spec.commandLine(), "--verify takes only the pack to check");
            long t = System.nanoTime();
            PackedDataset p = PackedDataset.open(verify);
            long bytes = p.verify();
            o.println(String.format(Locale.ROOT, "ok: %s holds %d images of %d identities (%s), %d shard(s), %.1f MiB verified in %.1f s",
                    verify, p.size(), p.numClasses(), p.shapeString(), p.shards(), bytes / 1048576.0, (System.nanoTime() - t) / 1e9));
            o.flush();
            return 0;
        }
        if (src == null || out == null) throw new ParameterException(spec.commandLine(), "pack needs SRC and -o OUT (or --verify PACK)");
        boolean idx = Idx.find(src, "train-images-idx3-ubyte") != null || Idx.find(src, "t10k-images-idx3-ubyte") != null;
        int c, s;
        if (idx) {
            c = channels == null ? 1 : channels;
            s = size == null ? 0 : size;
        } else {
            int[] in = inputShape(modelOptions.model != null ? modelOptions.model : Models.FACE_RESNET10);
            c = channels == null ? in[0] : channels;
            s = size == null ? in[1] + in[1] / 6 : size;
        }
        if (c != 1 && c != 3) throw new ParameterException(spec.commandLine(), "--channels must be 1 or 3, got " + c);
        if (!idx && (s < 1 || s > 4096)) throw new ParameterException(spec.commandLine(), "--size must be in 1..4096, got " + s);
        if (threads < 0) throw new ParameterException(spec.commandLine(), "--threads must be >= 0");
        int th = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
        Log.info("packing " + src + " into " + out + (idx ? "" : " at " + c + "x" + s + "x" + s) + " on " + th + " thread(s)");
        Packer.Result r = Packer.pack(src, out, new Packer.Options(c, s, strict, th,
                shardBytes != null ? shardBytes : PackFormat.shardBytes(), force, idxSplit));
        PackedDataset p = PackedDataset.open(r.pack());
        o.println(String.format(Locale.ROOT, "pack      %s", r.pack()));
        o.println(String.format(Locale.ROOT, "images    %d of %d identities, %s, %d shard(s), %.1f MiB", r.images(), p.numClasses(),
                p.shapeString(), p.shards(), p.pixelBytes() / 1048576.0));
        o.println(String.format(Locale.ROOT, "speed     %.1f s, %.0f images/s (%.0f per thread, %d threads)", r.seconds(), r.imagesPerSecond(),
                r.imagesPerSecond() / th, th));
        if (r.skipped() > 0) o.println("skipped   " + r.skipped() + " file(s), listed in " + r.pack().resolve(PackFormat.SKIPPED));
        if (r.emptyIdentities() > 0) o.println("empty     " + r.emptyIdentities() + " identity folder(s) without files, left out");
        o.flush();
        return 0;
    }

    /** The input shape {C, H, W} the pack is for: the model's channels, --input-size or the model's default. */
    private int[] inputShape(String name) {
        if (!Models.names().contains(name))
            throw new ParameterException(spec.commandLine(), "--model: unknown model '" + name + "'; known: " + Models.names());
        int s = modelOptions.inputSize != null ? modelOptions.inputSize : Models.defaultInputSize(name);
        try {
            Models.check(name, s, Models.EMBEDDING_DIM);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        return new int[] {Models.inputChannels(name), s, s};
    }
}
