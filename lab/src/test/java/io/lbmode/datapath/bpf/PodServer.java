package io.lbmode.datapath.bpf;

import io.lbmode.lab.Netns;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Random;

/**
 * A test backend in a pod namespace, on TCP and UDP {@code port}. TCP: one command line per connection:
 * {@code who} (answers {@code pod=NAME client=IP:PORT}), {@code bytes N} (N bytes of {@link #payload}),
 * {@code slow N} (the same, 64 KiB every 20 ms: a long download), {@code whoslow N} (the {@code who} line, then
 * {@code slow N}: a long download that says which pod serves it), {@code rst} (answers, then closes with a reset).
 * UDP: every datagram is answered with {@code pod=NAME client=IP:PORT}.
 */
final class PodServer implements AutoCloseable {
    /** 1 MiB of seeded random bytes; bodies repeat it so the client can check a hash of what arrived. */
    static final byte[] BLOCK = new byte[1 << 20];

    static {
        new Random(42).nextBytes(BLOCK);
    }

    private final String name;
    private final ServerSocket tcp;
    private final DatagramSocket udp;

    PodServer(Netns ns, String name, int port) throws Exception {
        this.name = name;
        this.tcp = ns.call(() -> {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(port), 256);
            return s;
        });
        this.udp = ns.call(() -> new DatagramSocket(port));
        Thread.ofPlatform().daemon().name("pod-" + name + "-tcp").start(this::acceptLoop);
        Thread.ofPlatform().daemon().name("pod-" + name + "-udp").start(this::udpLoop);
    }

    private void acceptLoop() {
        while (!tcp.isClosed()) {
            try {
                Socket c = tcp.accept();
                Thread.ofVirtual().start(() -> serve(c));
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket c) {
        try (c) {
            BufferedReader in = new BufferedReader(new InputStreamReader(c.getInputStream(), StandardCharsets.US_ASCII));
            String line = in.readLine();
            if (line == null) {
                return;
            }
            OutputStream out = c.getOutputStream();
            String[] cmd = line.trim().split(" ");
            switch (cmd[0]) {
                case "who" -> out.write(who(c.getInetAddress().getHostAddress(), c.getPort()));
                case "bytes", "slow", "whoslow" -> {
                    long n = Long.parseLong(cmd[1]);
                    boolean slow = !cmd[0].equals("bytes");
                    if (cmd[0].equals("whoslow")) {
                        out.write(who(c.getInetAddress().getHostAddress(), c.getPort()));
                    }
                    for (long sent = 0; sent < n; ) {
                        int chunk = (int) Math.min(slow ? 64 * 1024 : BLOCK.length, n - sent);
                        int from = (int) (sent % BLOCK.length);
                        chunk = Math.min(chunk, BLOCK.length - from);
                        out.write(BLOCK, from, chunk);
                        sent += chunk;
                        if (slow) {
                            Thread.sleep(20);
                        }
                    }
                }
                case "rst" -> {
                    out.write("ok\n".getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                    c.setSoLinger(true, 0); // close() now sends a RST
                }
                default -> out.write(("unknown command " + cmd[0] + "\n").getBytes(StandardCharsets.US_ASCII));
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            // client went away: nothing to do
        }
    }

    private byte[] who(String ip, int port) {
        return ("pod=" + name + " client=" + ip + ":" + port + "\n").getBytes(StandardCharsets.US_ASCII);
    }

    private void udpLoop() {
        byte[] buf = new byte[65536];
        while (!udp.isClosed()) {
            try {
                DatagramPacket p = new DatagramPacket(buf, buf.length);
                udp.receive(p);
                byte[] reply = who(p.getAddress().getHostAddress(), p.getPort());
                udp.send(new DatagramPacket(reply, reply.length, p.getSocketAddress()));
            } catch (IOException e) {
                return;
            }
        }
    }

    /** SHA-256 of the first n bytes of the body stream. */
    static String expectedHash(long n) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        for (long done = 0; done < n; ) {
            int chunk = (int) Math.min(BLOCK.length, n - done);
            d.update(BLOCK, 0, chunk);
            done += chunk;
        }
        return HexFormat.of().formatHex(d.digest());
    }

    @Override
    public void close() throws IOException {
        tcp.close();
        udp.close();
    }
}
