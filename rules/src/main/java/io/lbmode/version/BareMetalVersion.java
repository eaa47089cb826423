package io.lbmode.version;

import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GDC bare-metal version ({@code spec.anthosBareMetalVersion}): {@code MAJOR.MINOR.PATCH} with an optional build
 * suffix such as {@code -gke.131}.
 *
 * <p>Ordered numerically, never as strings ("1.9" before "1.16", "1.28.300-gke.131" after "1.28.0" and before "1.29.0").
 * The suffix is a build of that patch release, not a pre-release: a version with a suffix sorts after the same
 * version without one, and suffixes compare identifier by identifier (numbers numerically).
 */
public record BareMetalVersion(int major, int minor, int patch, List<String> build) implements Comparable<BareMetalVersion> {

    private static final Pattern SYNTAX =
            Pattern.compile("(0|[1-9]\\d{0,5})\\.(0|[1-9]\\d{0,5})\\.(0|[1-9]\\d{0,5})(?:-([0-9A-Za-z]+(?:\\.[0-9A-Za-z]+)*))?");

    /** The first release in which {@code forwardMode} is a field (after 1.16 versions jumped to 1.28). */
    public static final BareMetalVersion V1_28_0 = new BareMetalVersion(1, 28, 0, List.of());

    public BareMetalVersion {
        build = List.copyOf(build);
    }

    /** Parses {@code 1.28.300-gke.131}; empty when the text is not such a version. */
    public static Optional<BareMetalVersion> parse(String text) {
        if (text == null) {
            return Optional.empty();
        }
        Matcher m = SYNTAX.matcher(text.trim());
        if (!m.matches()) {
            return Optional.empty();
        }
        List<String> build = m.group(4) == null ? List.of() : List.of(m.group(4).split("\\."));
        return Optional.of(new BareMetalVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                Integer.parseInt(m.group(3)), build));
    }

    @Override
    public int compareTo(BareMetalVersion other) {
        int c = Integer.compare(major, other.major);
        if (c == 0) c = Integer.compare(minor, other.minor);
        if (c == 0) c = Integer.compare(patch, other.patch);
        if (c != 0) return c;
        for (int i = 0; i < Math.min(build.size(), other.build.size()); i++) {
            c = compareIdentifier(build.get(i), other.build.get(i));
            if (c != 0) return c;
        }
        return Integer.compare(build.size(), other.build.size());
    }

    private static int compareIdentifier(String a, String b) {
        boolean an = a.chars().allMatch(Character::isDigit);
        boolean bn = b.chars().allMatch(Character::isDigit);
        if (an && bn) {
            // Compare by length first so that long digit strings never overflow.
            String as = a.replaceFirst("^0+(?=.)", ""), bs = b.replaceFirst("^0+(?=.)", "");
            return as.length() != bs.length() ? Integer.compare(as.length(), bs.length()) : as.compareTo(bs);
        }
        if (an != bn) {
            return an ? -1 : 1;
        }
        return a.compareTo(b);
    }

    public boolean isBefore(BareMetalVersion other) {
        return compareTo(other) < 0;
    }

    public boolean atLeast(BareMetalVersion other) {
        return compareTo(other) >= 0;
    }

    @Override
    public String toString() {
        String release = major + "." + minor + "." + patch;
        return build.isEmpty() ? release : release + "-" + String.join(".", build);
    }
}
