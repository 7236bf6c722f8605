/**
 * The HTTP API: JWT-authorized routes with per-route scopes, one `$default` stage with throttling,
 * detailed (per-route) metrics and JSON access logs.
 */
import { Aws, type Duration, Fn, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { MetricOptions } from 'aws-cdk-lib/aws-cloudwatch';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { HttpVerb } from '../functionTable.js';

export interface ApiRoute {
  readonly method: HttpVerb;
  readonly path: string;
  /** The OAuth scope the caller's JWT must carry. */
  readonly scope: string;
  readonly handler: IFunction;
  /** Construct-id-safe name (the function's name). */
  readonly name: string;
}

export interface CorsOptions {
  /** Exact origins, e.g. `https://app.ngomna.cm`. */
  readonly allowOrigins: string[];
  /** @default Duration.hours(1) (set by the stack) */
  readonly maxAge?: Duration;
}

export interface UserCacheApiProps {
  /** The API's name (one per stage). */
  readonly name: string;
  readonly jwtIssuer: string;
  readonly jwtAudience: string[];
  readonly routes: readonly ApiRoute[];
  readonly throttle: ThrottleSettings;
  /** @default no CORS (server-to-server callers and the mobile app do not need it) */
  readonly cors?: CorsOptions;
  readonly logRetention: RetentionDays;
}

/**
 * HTTP API variables only (REST API ones such as `$context.identity.caller` log as "-"). No JWT,
 * no claims, no query string: the access log must not hold tokens or profile data.
 */
const ACCESS_LOG_FORMAT = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  requestTime: '$context.requestTimeEpoch',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integration.latency',
  integrationStatus: '$context.integration.status',
  integrationError: '$context.integrationErrorMessage',
  authorizerError: '$context.authorizer.error',
  errorMessage: '$context.error.message',
};

export class UserCacheApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: UserCacheApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'HttpApi', {
      apiName: props.name,
      description: 'ngomna user-profile cache',
      // The stage is created below: the default one cannot carry access logs or detailed metrics.
      createDefaultStage: false,
      corsPreflight: props.cors && {
        allowOrigins: props.cors.allowOrigins,
        allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.PUT, CorsHttpMethod.POST, CorsHttpMethod.DELETE],
        allowHeaders: ['authorization', 'content-type', 'if-match'],
        exposeHeaders: ['etag'],
        maxAge: props.cors.maxAge,
      },
    });
    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      // Under /aws/vendedlogs/: API Gateway then needs no entry in the account's CloudWatch Logs resource
      // policy, whose 5,120-character cap fails the stage in a busy account ("Cannot enable logging").
      // The stack id's UUID keeps the name unique per stack instance, so a retained group of a deleted
      // or rolled-back stack never blocks the next creation.
      logGroupName: Fn.join('', [
        `/aws/vendedlogs/apigateway/${Stack.of(this).stackName}/`,
        Fn.select(2, Fn.split('/', Aws.STACK_ID)),
      ]),
      retention: props.logRetention,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      // Per-route metrics: the read route's p99 alarm needs them (billed as custom metrics).
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FORMAT)),
      },
    });

    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: props.jwtAudience,
    });
    for (const route of props.routes) {
      this.api.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration: new HttpLambdaIntegration(`${route.name}Integration`, route.handler),
        authorizer,
        authorizationScopes: [route.scope],
      });
    }
  }

  get url(): string {
    return this.stage.url;
  }

  /** A route-level metric (`AWS/ApiGateway`, dimensions ApiId/Stage/Resource/Method). */
  metricForRoute(metricName: string, method: HttpVerb, path: string, options: MetricOptions = {}): Metric {
    return new Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ApiId: this.api.apiId, Stage: this.stage.stageName, Resource: path, Method: method },
      ...options,
    });
  }
}
