// Package hmacbench compares dicombridge/hmac's Signer with the AWS SDK's
// SigV4 signer (github.com/aws/aws-sdk-go-v2/aws/signer/v4), the closest
// widely used peer, on the same small POST. See README.md.
package hmacbench
