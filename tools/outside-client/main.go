// Command outside-client writes requests to the platform's Kafka topics the way a
// third-party integration would: with librdkafka (through confluent-kafka-go) and
// Confluent's own Avro serializer, and none of this project's code.
//
// It exists to show that the platform's stateful consumers stay correct whatever
// partitioner a producer uses. It therefore deliberately keeps librdkafka's
// defaults: unless --partitioner is given it sets no `partitioner` at all, so
// records are placed by librdkafka's consistent_random (CRC32 of the key), not by
// the murmur2 partitioner of the Java client. --partitioner NAME sets librdkafka's
// partitioner to NAME (murmur2_random, random, consistent_random, ...), and
// --partition P writes every record to partition P explicitly.
//
// Usage:
//
//	outside-client --topic generate-invoice|calculate-score --user <uuid> --count N [--partitioner NAME] [--partition P]
//
// Keys are the user_key record, values an invoice_request or a score_request,
// serialized in the Confluent wire format against the latest version registered
// under <topic>-key and <topic>-value (TopicNameStrategy; nothing is registered).
// One JSON line per delivered record goes to stdout; if any delivery fails the
// program exits 1 with one line on stderr.
//
// Configuration comes only from the environment: KAFKA_BOOTSTRAP_SERVERS,
// KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
// KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION, SCHEMA_REGISTRY_URL,
// SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO and SCHEMA_REGISTRY_SSL_CA_LOCATION.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/avrov2"
	"github.com/google/uuid"
)

// The records, shaped after contracts/schemas/{user_key/v1,invoice_request/v2,score_request/v1}.avsc.
// uuid fields are strings, timestamp-millis fields time.Time and bytes decimals *big.Rat,
// as the Avro library under avrov2 (hamba/avro) expects them.

type userKey struct {
	UserID string `avro:"user_id"`
}

type customer struct {
	Name  string `avro:"name"`
	TaxID string `avro:"tax_id"`
}

type lineItem struct {
	Description string   `avro:"description"`
	Quantity    *big.Rat `avro:"quantity"`
	UnitPrice   *big.Rat `avro:"unit_price"`
}

type invoiceRequest struct {
	RequestID   string     `avro:"request_id"`
	UserID      string     `avro:"user_id"`
	RequestedAt time.Time  `avro:"requested_at"`
	Customer    customer   `avro:"customer"`
	Items       []lineItem `avro:"items"`
}

type scoreRequest struct {
	RequestID   string    `avro:"request_id"`
	UserID      string    `avro:"user_id"`
	RequestedAt time.Time `avro:"requested_at"`
}

// delivered is the line printed for each record.
type delivered struct {
	RequestID string `json:"request_id"`
	UserID    string `json:"user_id"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// How long an outage of the registry, or a failing authentication with Kafka, is waited
// out before the run fails: long enough for a restart, short enough for a wrong password.
const (
	registryPatience = 60 * time.Second
	authPatience     = 30 * time.Second
)

type options struct {
	topic       string
	user        string
	count       int
	partitioner string
	partition   int
}

func main() {
	opts, err := parseArgs(os.Args[1:])
	if err != nil {
		fail(err)
	}
	if err := run(opts, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "outside-client: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	os.Exit(1)
}

func parseArgs(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("outside-client", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.topic, "topic", "", "generate-invoice or calculate-score")
	fs.StringVar(&o.user, "user", "", "the user's uuid")
	fs.IntVar(&o.count, "count", 0, "how many requests to write")
	fs.StringVar(&o.partitioner, "partitioner", "", "librdkafka partitioner (default: librdkafka's own)")
	fs.IntVar(&o.partition, "partition", -1, "write every record to this partition")
	usage := "usage: outside-client --topic generate-invoice|calculate-score --user <uuid> --count N [--partitioner NAME] [--partition P]"
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%v; %s", err, usage)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q; %s", fs.Arg(0), usage)
	case o.topic != "generate-invoice" && o.topic != "calculate-score":
		return o, fmt.Errorf("--topic must be generate-invoice or calculate-score; %s", usage)
	case o.count < 1:
		return o, fmt.Errorf("--count must be at least 1; %s", usage)
	case o.partition < -1:
		return o, fmt.Errorf("--partition must not be negative; %s", usage)
	}
	u, err := uuid.Parse(o.user)
	if err != nil {
		return o, fmt.Errorf("--user must be a uuid: %v; %s", err, usage)
	}
	o.user = u.String()
	return o, nil
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// kafkaConfig maps the project's environment variables onto librdkafka's properties.
// Anything not named here keeps librdkafka's default, the partitioner above all.
func kafkaConfig(partitioner string) *kafka.ConfigMap {
	protocol := env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
	conf := kafka.ConfigMap{
		"bootstrap.servers":  env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
		"security.protocol":  protocol,
		"acks":               "all",
		"enable.idempotence": true,
		"client.id":          "outside-client",
	}
	if strings.HasPrefix(strings.ToUpper(protocol), "SASL") {
		conf["sasl.mechanisms"] = env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
		conf["sasl.username"] = os.Getenv("KAFKA_SASL_USERNAME")
		conf["sasl.password"] = os.Getenv("KAFKA_SASL_PASSWORD")
	}
	if ca := os.Getenv("KAFKA_SSL_CA_LOCATION"); ca != "" {
		conf["ssl.ca.location"] = ca
	}
	if partitioner != "" {
		conf["partitioner"] = partitioner
	}
	return &conf
}

func registryClient() (schemaregistry.Client, error) {
	conf := schemaregistry.NewConfig(env("SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"))
	if userInfo := os.Getenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"); userInfo != "" {
		conf.BasicAuthCredentialsSource = "USER_INFO"
		conf.BasicAuthUserInfo = userInfo
	}
	conf.SslCaLocation = os.Getenv("SCHEMA_REGISTRY_SSL_CA_LOCATION")
	return schemaregistry.NewClient(conf)
}

// serializer returns Confluent's Avro serializer for the key or the value of a topic,
// bound to the latest schema registered under the topic's subject, registering nothing.
func serializer(client schemaregistry.Client, kind serde.Type) (*avrov2.Serializer, error) {
	conf := avrov2.NewSerializerConfig()
	conf.AutoRegisterSchemas = false
	conf.UseLatestVersion = true
	return avrov2.NewSerializer(client, kind, conf)
}

// serialize runs ser.Serialize, retrying while the registry cannot be reached or answers
// with a server error (the client retries a 5xx a few times only, and a refused
// connection not at all). Its answers are cached, so only the first call of each
// serializer may wait.
func serialize(ser *avrov2.Serializer, topic string, msg any) ([]byte, error) {
	deadline := time.Now().Add(registryPatience)
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		b, err := ser.Serialize(topic, msg)
		var netErr *url.Error
		var restErr *rest.Error
		transient := errors.As(err, &netErr) ||
			errors.As(err, &restErr) && (restErr.Code/100 == 5 || restErr.Code/10000 == 5)
		if errors.Is(err, io.EOF) {
			// What the client makes of an error answer without a body (a 401, 403 or 404).
			return nil, fmt.Errorf("the registry refused without saying why (check SCHEMA_REGISTRY_URL and SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO): %w", err)
		}
		if !transient || time.Now().Add(wait).After(deadline) {
			return b, err
		}
		time.Sleep(wait)
	}
}

func newValue(topic, user string) (requestID string, value any) {
	requestID = uuid.NewString() // version 4
	now := time.Now().UTC().Truncate(time.Millisecond)
	if topic == "calculate-score" {
		return requestID, &scoreRequest{RequestID: requestID, UserID: user, RequestedAt: now}
	}
	return requestID, &invoiceRequest{
		RequestID:   requestID,
		UserID:      user,
		RequestedAt: now,
		Customer:    customer{Name: "Outside Integração Ltda", TaxID: "11.222.333/0001-81"},
		Items: []lineItem{{
			Description: "Consulting hours",
			Quantity:    big.NewRat(2, 1),       // 2.000
			UnitPrice:   big.NewRat(15050, 100), // 150.50
		}},
	}
}

func run(o options, out io.Writer) error {
	client, err := registryClient()
	if err != nil {
		return fmt.Errorf("schema registry client: %w", err)
	}
	keySer, err := serializer(client, serde.KeySerde)
	if err != nil {
		return fmt.Errorf("key serializer: %w", err)
	}
	valueSer, err := serializer(client, serde.ValueSerde)
	if err != nil {
		return fmt.Errorf("value serializer: %w", err)
	}

	key, err := serialize(keySer, o.topic, &userKey{UserID: o.user})
	if err != nil {
		return fmt.Errorf("serializing the key under %s-key: %w", o.topic, err)
	}
	requestIDs := make([]string, o.count)
	values := make([][]byte, o.count)
	for i := range values {
		var value any
		requestIDs[i], value = newValue(o.topic, o.user)
		if values[i], err = serialize(valueSer, o.topic, value); err != nil {
			return fmt.Errorf("serializing a value under %s-value: %w", o.topic, err)
		}
	}

	conf := kafkaConfig(o.partitioner)
	// librdkafka's own log lines would go to stderr; they come here instead, and the
	// client errors that matter reach the Events() channel anyway.
	logs := make(chan kafka.LogEvent, 1000)
	go func() {
		for range logs {
		}
	}()
	(*conf)["go.logs.channel.enable"] = true
	(*conf)["go.logs.channel"] = logs
	producer, err := kafka.NewProducer(conf)
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer producer.Close()

	// Client errors: a fatal one (the idempotent producer's) fails the run at once, and so
	// does an authentication failure that lasts; the others are transient (a broker down,
	// say) and librdkafka retries on its own until message.timeout.ms.
	clientErrors := make(chan kafka.Error, 100)
	go func() {
		for ev := range producer.Events() {
			if e, ok := ev.(kafka.Error); ok {
				select {
				case clientErrors <- e:
				default:
				}
			}
		}
	}()

	topic := o.topic
	partition := kafka.PartitionAny
	if o.partition >= 0 {
		partition = int32(o.partition)
	}
	reports := make(chan kafka.Event, o.count)
	for i := range values {
		msg := &kafka.Message{
			TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: partition},
			Key:            key,
			Value:          values[i],
			Opaque:         i,
		}
		for {
			err := producer.Produce(msg, reports)
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.Code() == kafka.ErrQueueFull {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if err != nil {
				return fmt.Errorf("producing request %s: %w", requestIDs[i], err)
			}
			break
		}
	}

	giveUp := func(err error) error {
		producer.Purge(kafka.PurgeQueue | kafka.PurgeInFlight | kafka.PurgeNonBlocking)
		return err
	}
	results := make([]*kafka.Message, o.count)
	var failures int
	var firstFailure, lastClientError, authError error
	var authFailingSince time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for got := 0; got < o.count; {
		select {
		case e := <-clientErrors:
			lastClientError = e
			switch {
			case e.IsFatal():
				return giveUp(fmt.Errorf("the producer failed: %w", e))
			case e.Code() == kafka.ErrAuthentication:
				authError = e
				if authFailingSince.IsZero() {
					authFailingSince = time.Now()
				}
			}
		case <-tick.C:
			if !authFailingSince.IsZero() && time.Since(authFailingSince) > authPatience {
				return giveUp(fmt.Errorf("authentication with Kafka keeps failing: %w", authError))
			}
		case ev := <-reports:
			m, ok := ev.(*kafka.Message)
			if !ok {
				continue
			}
			got++
			i := m.Opaque.(int)
			if m.TopicPartition.Error != nil {
				failures++
				if firstFailure == nil {
					firstFailure = fmt.Errorf("request %s: %w", requestIDs[i], m.TopicPartition.Error)
				}
				continue
			}
			authFailingSince = time.Time{}
			results[i] = m
		}
	}

	enc := json.NewEncoder(out)
	for i, m := range results {
		if m == nil {
			continue
		}
		line := delivered{RequestID: requestIDs[i], UserID: o.user, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset)}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	if failures > 0 {
		if lastClientError != nil {
			return fmt.Errorf("%d of %d records were not delivered to %s; first: %w; last client error: %v", failures, o.count, o.topic, firstFailure, lastClientError)
		}
		return fmt.Errorf("%d of %d records were not delivered to %s; first: %w", failures, o.count, o.topic, firstFailure)
	}
	return nil
}
