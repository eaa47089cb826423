package io.lbmode.forwardmode;

import io.lbmode.crds.cluster.v1.Cluster;
import io.lbmode.crds.cluster.v1.ForwardMode;
import io.lbmode.validation.Problem;
import io.lbmode.version.BareMetalVersion;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The one place that knows how the 1.16 preview annotation migrates into the field and which changes of the forward
 * mode are allowed. What the mode of a cluster is ({@link ForwardMode#effective}) is part of the API, in crds.
 *
 * <ul>
 *   <li>Effective mode ({@link ForwardMode#effective}): the field if set; else {@code dsr} if the annotation is
 *       {@code enable}; else {@code snat}.</li>
 *   <li>Migration: a cluster carrying {@code enable} at 1.28.0 or later with the field unset gets the field.</li>
 *   <li>Immutable: no update may change the effective mode. Allowed are writing the effective mode into the unset
 *       field and removing the annotation once the field is set.</li>
 * </ul>
 */
public final class ForwardModes {
    public static final String FIELD = "spec.clusterNetwork.forwardMode";
    static final String ANNOTATION_FIELD = "metadata.annotations[" + ForwardMode.PREVIEW_ANNOTATION + "]";
    private static final String CREATION_ONLY =
            "the forward mode is chosen at cluster creation only; create a new cluster to use another mode";

    private ForwardModes() {
    }

    static Optional<BareMetalVersion> version(Cluster cluster) {
        return cluster == null || cluster.getSpec() == null
                ? Optional.empty()
                : BareMetalVersion.parse(cluster.getSpec().anthosBareMetalVersion);
    }

    /**
     * What the operator does to a stored cluster: the annotation is {@code enable}, the version is 1.28.0 or later
     * and the field is unset, so the field gets {@code dsr}.
     */
    public static Optional<Migration> migrationFor(Cluster current) {
        if (ForwardMode.field(current).isPresent() || !ForwardMode.previewEnables(current)) {
            return Optional.empty();
        }
        Optional<BareMetalVersion> version = version(current);
        if (version.isEmpty() || version.get().isBefore(BareMetalVersion.V1_28_0)) {
            return Optional.empty();
        }
        return Optional.of(new Migration(ForwardMode.DSR, FIELD + " set to dsr from the 1.16 preview annotation "
                + ForwardMode.PREVIEW_ANNOTATION + "=enable (version " + version.get() + ")"));
    }

    /**
     * The migration an upgrade triggers: {@code old} is before 1.28.0, {@code updated} is 1.28.0 or later, the
     * annotation is {@code enable} and the updated object leaves the field unset.
     */
    public static Optional<Migration> migrationOnUpgrade(Cluster old, Cluster updated) {
        Optional<BareMetalVersion> from = version(old);
        Optional<BareMetalVersion> to = version(updated);
        if (from.isEmpty() || to.isEmpty() || !from.get().isBefore(BareMetalVersion.V1_28_0)
                || to.get().isBefore(BareMetalVersion.V1_28_0)) {
            return Optional.empty();
        }
        if (ForwardMode.field(updated).isPresent() || !ForwardMode.previewEnables(updated)) {
            return Optional.empty();
        }
        return Optional.of(new Migration(ForwardMode.DSR, FIELD + " set to dsr from the 1.16 preview annotation "
                + ForwardMode.PREVIEW_ANNOTATION + "=enable on the upgrade from " + from.get() + " to " + to.get()));
    }

    /** Create rules: the annotation may only say {@code enable}, and not together with {@code forwardMode: snat}. */
    public static List<Problem> checkCreate(Cluster cluster) {
        List<Problem> problems = new ArrayList<>();
        Optional<String> annotation = ForwardMode.previewAnnotation(cluster);
        if (annotation.isPresent() && !ForwardMode.PREVIEW_ENABLE.equals(annotation.get())) {
            problems.add(new Problem(ANNOTATION_FIELD, "must be 'enable', not '" + annotation.get()
                    + "'; remove the annotation for snat, or set " + FIELD + " instead"));
        }
        if (annotation.isPresent() && ForwardMode.field(cluster).orElse(null) == ForwardMode.SNAT) {
            problems.add(new Problem(FIELD, "is snat but the annotation " + ForwardMode.PREVIEW_ANNOTATION
                    + " asks for dsr; remove the annotation or set forwardMode: dsr"));
        }
        return problems;
    }

    /** Create warnings: an unset mode is snat for good; the annotation is only for 1.16. */
    public static List<String> warnCreate(Cluster cluster) {
        List<String> warnings = new ArrayList<>();
        if (ForwardMode.field(cluster).isEmpty() && ForwardMode.previewAnnotation(cluster).isEmpty()) {
            warnings.add(FIELD + ": not set: the cluster will use snat, and it can't be changed later");
        }
        if (ForwardMode.previewAnnotation(cluster).isPresent() && version(cluster).map(v -> v.atLeast(BareMetalVersion.V1_28_0)).orElse(false)) {
            warnings.add(ANNOTATION_FIELD + ": the preview annotation is for 1.16 clusters; on 1.28 and later set "
                    + FIELD + ": dsr instead");
        }
        return warnings;
    }

    /**
     * Update rules: the effective mode never changes. Every denial names the field, the old and new value and says
     * that the mode is chosen at creation only.
     */
    public static List<Problem> checkUpdate(Cluster old, Cluster updated) {
        List<Problem> problems = new ArrayList<>();
        Optional<ForwardMode> oldField = ForwardMode.field(old);
        Optional<ForwardMode> newField = ForwardMode.field(updated);
        Optional<String> oldAnnotation = ForwardMode.previewAnnotation(old);
        Optional<String> newAnnotation = ForwardMode.previewAnnotation(updated);
        ForwardMode oldMode = ForwardMode.effective(old);
        ForwardMode newMode = ForwardMode.effective(updated);

        if (oldField.isPresent() && newField.isEmpty()) {
            problems.add(new Problem(FIELD, "can't be removed (was " + oldField.get() + "); " + CREATION_ONLY));
        } else if (oldField.isPresent() && oldField.get() != newField.get()) {
            problems.add(new Problem(FIELD, "can't change from " + oldField.get() + " to " + newField.get() + "; " + CREATION_ONLY));
        } else if (oldField.isEmpty() && newField.isPresent() && newField.get() != oldMode) {
            problems.add(new Problem(FIELD, "can't be set to " + newField.get() + ": the cluster runs " + oldMode
                    + (oldAnnotation.isPresent() ? " (from the annotation " + ForwardMode.PREVIEW_ANNOTATION + ")" : " (the default)")
                    + "; only " + oldMode + " may be written; " + CREATION_ONLY));
        } else if (oldField.isEmpty() && newField.isEmpty() && !oldAnnotation.equals(newAnnotation)) {
            // With the field unset the annotation is what selects the mode: adding, removing or changing it would switch it.
            String change = oldAnnotation.isEmpty() ? "can't be added (value '" + newAnnotation.get() + "')"
                    : newAnnotation.isEmpty() ? "can't be removed while " + FIELD + " is unset (it selects " + oldMode + ")"
                    : "can't change from '" + oldAnnotation.get() + "' to '" + newAnnotation.get() + "'";
            problems.add(new Problem(ANNOTATION_FIELD, change + ": the mode would change from " + oldMode + " to " + newMode
                    + "; " + CREATION_ONLY + (newAnnotation.isEmpty() ? " (set " + FIELD + ": " + oldMode + " first, then remove it)" : "")));
        } else if (newField.isPresent() && newAnnotation.isPresent() && !newAnnotation.equals(oldAnnotation)) {
            // The field decides; a newly added or changed annotation can only contradict it or be noise.
            problems.add(new Problem(ANNOTATION_FIELD, "can't be added or changed on a cluster whose " + FIELD
                    + " is set (" + newField.get() + "); the annotation is only the 1.16 preview switch"));
        }
        if (problems.isEmpty() && oldMode != newMode) {
            // Defensive: every path that changes the mode must be denied, even one the cases above do not name.
            problems.add(new Problem(FIELD, "the effective mode can't change from " + oldMode + " to " + newMode + "; " + CREATION_ONLY));
        }
        return problems;
    }
}
