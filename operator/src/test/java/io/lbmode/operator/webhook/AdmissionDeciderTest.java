package io.lbmode.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lbmode.operator.support.Fixtures;
import io.lbmode.operator.support.Reviews;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The mapping from AdmissionReview bodies to decisions, without a server. */
@Tag("unit")
class AdmissionDeciderTest {

    private static AdmissionDecision.Review review(ObjectNode body) {
        var decision = AdmissionDecider.decide(Reviews.bytes(body));
        assertThat(decision).isInstanceOf(AdmissionDecision.Review.class);
        var review = (AdmissionDecision.Review) decision;
        assertThat(review.uid()).isEqualTo(Reviews.uid(body));
        return review;
    }

    @Test
    void validCreateIsAllowedWithoutWarnings() {
        var review = review(Reviews.create(Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr"))));
        assertThat(review.allowed()).isTrue();
        assertThat(review.warnings()).isEmpty();
        assertThat(review.result()).isEqualTo("allowed");
    }

    @Test
    void unsetForwardModeOnCreateIsAllowedWithTheSnatWarning() {
        var review = review(Reviews.create(Fixtures.node(Fixtures.valid("ns", "c", "standalone", null))));
        assertThat(review.allowed()).isTrue();
        assertThat(review.warnings()).anySatisfy(w -> assertThat(w).contains("spec.clusterNetwork.forwardMode")
                .contains("snat").contains("can't be changed later"));
    }

    @Test
    void changingForwardModeIsDeniedWith422AndTheFieldPath() {
        var old = Fixtures.node(Fixtures.valid("ns", "c", "standalone", "snat"));
        var updated = Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr"));
        var review = review(Reviews.update(old, updated));
        assertThat(review.allowed()).isFalse();
        assertThat(review.code()).isEqualTo(422);
        assertThat(review.reason()).isEqualTo("Invalid");
        assertThat(review.causes()).extracting(AdmissionDecision.Cause::field).contains("spec.clusterNetwork.forwardMode");
        assertThat(review.message()).contains("spec.clusterNetwork.forwardMode").contains("snat").contains("dsr");
    }

    /** A Cluster stored before lbmode (or a stricter rule) came: 2 control-plane nodes, which today's rules refuse. */
    private static ObjectNode storedInvalid() {
        ObjectNode stored = Fixtures.object(Fixtures.valid("ns", "c", "standalone", "dsr"));
        ((com.fasterxml.jackson.databind.node.ArrayNode) stored.at("/spec/controlPlane/nodePoolSpec/nodes"))
                .addObject().put("address", "10.200.0.3");
        return stored;
    }

    @Test
    void aLabelOnAStoredInvalidClusterIsAllowed() {
        ObjectNode old = storedInvalid();
        ObjectNode labeled = old.deepCopy();
        ((ObjectNode) labeled.path("metadata")).putObject("labels").put("team", "platform");
        assertThat(review(Reviews.create(old)).allowed()).as("today's rules refuse the stored object").isFalse();
        var review = review(Reviews.update(old, labeled));
        assertThat(review.allowed()).as(review.message()).isTrue();
    }

    @Test
    void removingTheFinalizerOfAStoredInvalidClusterBeingDeletedIsAllowed() {
        ObjectNode old = storedInvalid();
        ((ObjectNode) old.path("metadata")).put("deletionTimestamp", "2026-01-01T00:00:00Z")
                .putArray("finalizers").add("example.com/cleanup");
        ObjectNode released = old.deepCopy();
        ((ObjectNode) released.path("metadata")).remove("finalizers");
        var review = review(Reviews.update(old, released));
        assertThat(review.allowed()).as(review.message()).isTrue();
    }

    @Test
    void aStoredInvalidClusterStillCantChangeItsForwardMode() {
        ObjectNode old = storedInvalid();
        ObjectNode changed = old.deepCopy();
        ((ObjectNode) changed.at("/spec/clusterNetwork")).put("forwardMode", "snat");
        var review = review(Reviews.update(old, changed));
        assertThat(review.allowed()).isFalse();
        assertThat(review.causes()).extracting(AdmissionDecision.Cause::field).containsExactly("spec.clusterNetwork.forwardMode");
    }

    @Test
    void dryRunGetsTheSameAnswer() {
        var old = Fixtures.node(Fixtures.valid("ns", "c", "standalone", "snat"));
        var updated = Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr"));
        var wet = review(Reviews.update(old, updated));
        var dry = review(Reviews.request("UPDATE", updated, old, true));
        assertThat(dry.allowed()).isEqualTo(wet.allowed());
        assertThat(dry.message()).isEqualTo(wet.message());
        assertThat(dry.causes()).isEqualTo(wet.causes());
    }

    @Test
    void garbageIsRejectedNeverAllowed() {
        for (String body : new String[]{"", "not json", "[1,2]", "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"x\"}}",
                "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
                "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
                "[".repeat(200)}) {
            var decision = AdmissionDecider.decide(body.getBytes(StandardCharsets.UTF_8));
            assertThat(decision).as(body).isInstanceOf(AdmissionDecision.Rejected.class);
            assertThat(((AdmissionDecision.Rejected) decision).httpStatus()).as(body).isBetween(400, 499);
        }
    }

    @Test
    void anotherKindIsDeniedWithUid() {
        var body = Reviews.create(Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr")));
        ((ObjectNode) body.path("request").path("kind")).put("group", "").put("kind", "ConfigMap");
        var review = review(body);
        assertThat(review.allowed()).isFalse();
        assertThat(review.code()).isEqualTo(400);
        assertThat(review.message()).contains("ConfigMap");
    }

    @Test
    void missingObjectAndWrongTypesAreDenied() {
        var noObject = Reviews.request("CREATE", null, null, false);
        assertThat(review(noObject).allowed()).isFalse();
        assertThat(review(noObject).message()).contains("request.object is missing");

        var noOld = Reviews.request("UPDATE", Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr")), null, false);
        assertThat(review(noOld).message()).contains("request.oldObject is missing");

        ObjectNode object = Fixtures.object(Fixtures.valid("ns", "c", "standalone", "dsr"));
        ((ObjectNode) object.path("spec").path("loadBalancer").path("ports")).put("controlPlaneLBPort", "not-a-port");
        var wrongType = review(Reviews.create(object));
        assertThat(wrongType.allowed()).isFalse();
        assertThat(wrongType.code()).isEqualTo(422);
        assertThat(wrongType.causes()).extracting(AdmissionDecision.Cause::field)
                .anySatisfy(f -> assertThat(f).contains("controlPlaneLBPort"));
    }

    @Test
    void deleteIsNotReviewedAndSoDenied() {
        var body = Reviews.request("DELETE", null, Fixtures.node(Fixtures.valid("ns", "c", "standalone", "dsr")), false);
        var review = review(body);
        assertThat(review.allowed()).isFalse();
        assertThat(review.message()).contains("DELETE");
    }

    @Test
    void upgradeWithAnnotationAllowedAndAnnouncesTheMigration() {
        var old = Fixtures.node(Fixtures.yaml("ns", "c", "standalone", "1.16.0", null, "enable"));
        var upgraded = Fixtures.node(Fixtures.yaml("ns", "c", "standalone", "1.28.0", null, "enable"));
        var review = review(Reviews.update(old, upgraded));
        assertThat(review.allowed()).isTrue();
        assertThat(review.warnings()).anySatisfy(w -> assertThat(w).contains("forwardMode").contains("dsr"));
    }
}
