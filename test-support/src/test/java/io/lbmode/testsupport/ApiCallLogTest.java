package io.lbmode.testsupport;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class ApiCallLogTest {

    @Test
    void rbacLinesFromRequests() {
        assertThat(ApiCallLog.rbacLine("GET", "/api/v1/namespaces/ns/configmaps?fieldSelector=metadata.name%3Dx&watch=true"))
                .contains("watch /configmaps");
        assertThat(ApiCallLog.rbacLine("GET", "/apis/discovery.k8s.io/v1/endpointslices?resourceVersion=0"))
                .contains("list discovery.k8s.io/endpointslices");
        assertThat(ApiCallLog.rbacLine("PATCH", "/apis/lbmode.io/v1alpha1/nodedataplanes/n1/status"))
                .contains("patch lbmode.io/nodedataplanes/status");
        assertThat(ApiCallLog.rbacLine("GET", "/api/v1/nodes/n1")).contains("get /nodes");
    }
}
