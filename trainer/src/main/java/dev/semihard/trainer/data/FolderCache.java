package dev.semihard.trainer.data;

import dev.semihard.trainer.util.Log;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Image folders given to train, eval or embed are packed once into a cache and read from the pack after
 * that: {@code $XDG_CACHE_HOME/semihard} (else {@code ~/.cache/semihard}; the system property
 * {@code semihard.cache} overrides both), one pack per folder, shape and fingerprint. The fingerprint
 * is a SHA-256 of every file's relative path, size and modification time (and of the stored shape), so a
 * changed folder is packed again and an unchanged one starts at once.
 */
public final class FolderCache {
    private FolderCache() {}

    /** The cache folder. */
    public static Path root() {
        String p = System.getProperty("semihard.cache");
        if (p != null && !p.isBlank()) return Path.of(p);
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) return Path.of(xdg, "semihard");
        return Path.of(System.getProperty("user.home"), ".cache", "semihard");
    }

    /** The pack of {@code folder} stored as {@code channels x size x size}: from the cache, or packed now. */
    public static PackedDataset pack(Path folder, int channels, int size, boolean strict) {
        String fp = fingerprint(folder, channels, size, strict);
        String base = folder.toAbsolutePath().normalize().getFileName() == null ? "root" : folder.toAbsolutePath().normalize().getFileName().toString();
        Path dir = root().resolve(base.replaceAll("[^A-Za-z0-9._-]", "_") + "-" + channels + "x" + size + "-" + fp.substring(0, 16));
        if (PackedDataset.isPack(dir)) {
            try {
                PackedDataset p = PackedDataset.open(dir);
                Log.info("image folder " + folder + ": using its cached pack " + dir + " (" + p.size() + " images, " + mib(dir) + ")");
                return p;
            } catch (DataException e) {
                Log.warn("the cached pack " + dir + " is unusable (" + e.getMessage() + "): packing the folder again");
            }
        }
        Log.info("image folder " + folder + ": packing it once into the cache " + dir + " (reused while the folder is unchanged;"
                + " packs of its earlier contents stay in " + root() + " until deleted)");
        Packer.Result r;
        try {
            r = Packer.pack(folder, dir, new Packer.Options(channels, size, strict,
                    Runtime.getRuntime().availableProcessors(), PackFormat.shardBytes(), true, null));
        } catch (DataException e) {
            if (!e.getMessage().startsWith("cannot write the pack")) throw e;
            throw new DataException(e.getMessage() + ". The cache of packed image folders is " + root() + ": set XDG_CACHE_HOME to a"
                    + " writable folder with space, or pack the folder yourself (semihard pack " + folder + " -o OUT) and pass --data OUT", e);
        }
        Log.info(String.format(Locale.ROOT, "cached %s: %d images, %d identities, %s (%.0f images/s)", dir, r.images(), r.identities(),
                mib(dir), r.imagesPerSecond()));
        return PackedDataset.open(dir);
    }

    /** Hex SHA-256 of the shape and of every file's relative path, size and modification time. */
    static String fingerprint(Path folder, int channels, int size, boolean strict) {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        md.update(("semihard-pack " + PackFormat.VERSION + " " + channels + "x" + size + (strict ? " strict" : "") + "\n").getBytes(StandardCharsets.UTF_8));
        for (Path d : Packer.list(folder, true)) {
            for (Path f : Packer.list(d, false)) add(md, folder, f);
        }
        Path pairs = folder.resolve(PackFormat.PAIRS);
        if (Files.isRegularFile(pairs)) add(md, folder, pairs);
        return HexFormat.of().formatHex(md.digest());
    }

    private static void add(MessageDigest md, Path folder, Path f) {
        try {
            BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
            md.update((folder.relativize(f) + "\t" + a.size() + "\t" + a.lastModifiedTime().toMillis() + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new DataException("cannot read " + f + ": " + e.getMessage(), e);
        }
    }

    /** Size on disk of a pack folder, "12.3 MiB". */
    static String mib(Path dir) {
        long n = 0;
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) n += Files.size(p);
        } catch (IOException e) {
            return "? MiB";
        }
        return String.format(Locale.ROOT, "%.1f MiB", n / 1048576.0);
    }
}
