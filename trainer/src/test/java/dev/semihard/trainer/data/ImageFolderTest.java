package dev.semihard.trainer.data;

import dev.semihard.trainer.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class ImageFolderTest {
    @TempDir
    Path tmp;

    @Test
    void loadsResizesAndCountsSingletons() throws Exception {
        TestData.imageFolder(tmp, new int[] {3, 2, 1});
        ImageFolder.Result r = ImageFolder.load(tmp, 3, 16, false, null, "t", 0.5f, 0.5f);
        assertEquals(6, r.dataset().size());
        assertEquals(3, r.dataset().channels());
        assertEquals(16, r.dataset().height());
        assertEquals(0, r.skipped());
        assertEquals(1, r.singletonIdentities());
        assertEquals(java.util.List.of("id0", "id1", "id2"), r.dataset().classNames());
        assertTrue(r.dataset().paths().contains("id1/id1_0002.jpg"));
        ImageFolder.Result gray = ImageFolder.load(tmp, 1, 8, false, null, "g", 0.5f, 0.5f);
        assertEquals(1, gray.dataset().channels());
        assertEquals(64, gray.dataset().imageSize());
    }

    @Test
    void corruptFilesAreSkippedWithACountOrStopWhenStrict() throws Exception {
        TestData.imageFolder(tmp, new int[] {3, 3});
        Files.writeString(tmp.resolve("id0/broken.jpg"), "this is not a JPEG");
        Files.writeString(tmp.resolve("id1/notes.txt"), "hello");
        ImageFolder.Result r = ImageFolder.load(tmp, 1, 8, false, null, "t", 0.5f, 0.5f);
        assertEquals(6, r.dataset().size());
        assertEquals(2, r.skipped());
        DataException e = assertThrows(DataException.class, () -> ImageFolder.load(tmp, 1, 8, true, null, "t", 0.5f, 0.5f));
        assertTrue(e.getMessage().contains("cannot decode"), e.getMessage());
        assertTrue(e.getMessage().contains("--strict"), e.getMessage());
    }

    @Test
    void emptyOrMissingFolder() throws Exception {
        DataException missing = assertThrows(DataException.class, () -> ImageFolder.load(tmp.resolve("none"), 1, 8, false, null, "t", 0, 1));
        assertTrue(missing.getMessage().contains("not found"));
        DataException empty = assertThrows(DataException.class, () -> ImageFolder.load(tmp, 1, 8, false, null, "t", 0, 1));
        assertTrue(empty.getMessage().contains("empty"), empty.getMessage());
        Files.createDirectories(tmp.resolve("idA"));
        DataException noImages = assertThrows(DataException.class, () -> ImageFolder.load(tmp, 1, 8, false, null, "t", 0, 1));
        assertTrue(noImages.getMessage().contains("no image files"), noImages.getMessage());
    }

    @Test
    void centerCropKeepsTheMiddle() {
        // 30 x 10 image: left third black, middle white, right third black -> square crop of the middle
        BufferedImage img = new BufferedImage(30, 10, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 10; y++) for (int x = 10; x < 20; x++) img.setRGB(x, y, 0xffffff);
        byte[] px = ImageFolder.resizeCrop(img, 1, 10);
        assertEquals(255, px[5 * 10 + 5] & 0xff);
        assertTrue((px[5 * 10 + 1] & 0xff) > 200, "crop should be inside the white middle");
    }
}
