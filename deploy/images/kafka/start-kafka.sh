#!/bin/bash
# Start a single-node Kafka (KRaft, broker and controller in one process) from the jars in /opt/kafka/libs.
#
# Configuration follows the apache/kafka image, so the same environment works with both images:
# every KAFKA_<NAME> variable becomes the broker property <name>, with "_" read as ".", "__" as "_"
# and "___" as "-" (KAFKA_ADVERTISED_LISTENERS -> advertised.listeners). Variables override the
# single-node defaults below. CLUSTER_ID sets the KRaft cluster id used to format the log folder.
set -euo pipefail

KAFKA_HOME=/opt/kafka
CONFIG=/tmp/kafka-server.properties
CLASSPATH="$KAFKA_HOME/libs/*"

declare -A props=(
    [node.id]=1
    [process.roles]=broker,controller
    [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
    [advertised.listeners]=PLAINTEXT://localhost:9092
    [controller.listener.names]=CONTROLLER
    [listener.security.protocol.map]=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
    [controller.quorum.voters]=1@localhost:9093
    [inter.broker.listener.name]=PLAINTEXT
    [log.dirs]=/var/lib/kafka/data
    [num.partitions]=1
    [offsets.topic.replication.factor]=1
    [transaction.state.log.replication.factor]=1
    [transaction.state.log.min.isr]=1
    [share.coordinator.state.topic.replication.factor]=1
    [share.coordinator.state.topic.min.isr]=1
    [group.initial.rebalance.delay.ms]=0
)

while IFS='=' read -r name value; do
    case "$name" in
        KAFKA_HEAP_OPTS | KAFKA_JVM_OPTS | KAFKA_HOME) continue ;;
        KAFKA_*)
            key="${name#KAFKA_}"
            key="${key,,}"
            key="${key//___/-}"
            key="${key//__/@}"
            key="${key//_/.}"
            key="${key//@/_}"
            props[$key]="$value"
            ;;
    esac
done < <(env)

: >"$CONFIG"
for key in "${!props[@]}"; do
    printf '%s=%s\n' "$key" "${props[$key]}" >>"$CONFIG"
done

JAVA_OPTS=(
    ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
    ${KAFKA_JVM_OPTS:-}
    -Dlog4j2.configurationFile="$KAFKA_HOME/config/log4j2.properties"
    -Djava.awt.headless=true
)

mkdir -p "${props[log.dirs]%%,*}"
java "${JAVA_OPTS[@]}" -cp "$CLASSPATH" kafka.tools.StorageTool format \
    --config "$CONFIG" --cluster-id "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" --ignore-formatted

exec java "${JAVA_OPTS[@]}" -cp "$CLASSPATH" kafka.Kafka "$CONFIG"
