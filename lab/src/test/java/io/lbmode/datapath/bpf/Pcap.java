package io.lbmode.datapath.bpf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Frames of a classic pcap file as tcpdump -w writes it (Ethernet link type). */
final class Pcap {
    private Pcap() {
    }

    static List<byte[]> frames(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file));
        if (b.remaining() < 24) {
            return List.of();
        }
        int magic = b.order(ByteOrder.LITTLE_ENDIAN).getInt(0);
        b.order(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN);
        b.position(24);
        List<byte[]> frames = new ArrayList<>();
        while (b.remaining() >= 16) {
            b.getInt();
            b.getInt();
            int captured = b.getInt();
            b.getInt();
            if (b.remaining() < captured) {
                break;
            }
            byte[] f = new byte[captured];
            b.get(f);
            frames.add(f);
        }
        return frames;
    }

    /** The ones' complement checksum over {@code len} bytes at {@code off} (0 when a header checksum is right). */
    static int checksum(byte[] data, int off, int len) {
        long sum = 0;
        for (int i = 0; i + 1 < len; i += 2) {
            sum += ((data[off + i] & 0xff) << 8) | (data[off + i + 1] & 0xff);
        }
        if ((len & 1) != 0) {
            sum += (data[off + len - 1] & 0xff) << 8;
        }
        while ((sum >> 16) != 0) {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        return (int) (~sum & 0xffff);
    }
}
