// The image processor on Azure, deployed by `manage.py asyncimg_deploy --cloud azure` with
// `az deployment group create`: the uploads storage account (container, CORS for the browser's
// PUT, lifecycle rule for abandoned raw uploads), the callback secret in Key Vault, an Event Grid
// subscription to BlobCreated under the temporary prefix with retries and a dead-letter
// container, and either a Function App running asyncimg_processor (processor = 'function') or a
// Storage Queue for `asyncimg_worker --source azure-queue` (processor = 'worker').
// docs/processor.md lists the roles each identity gets (least privilege).

@description('Where every resource goes.')
param location string = resourceGroup().location

@description('Prefix of the resource names (lowercase letters and digits, at most 11).')
@maxLength(11)
param namePrefix string = 'asyncimg'

@description('The blob container uploads go to (ASYNC_IMAGE_UPLOAD_BUCKET).')
param containerName string

param temporaryPrefix string = 'temp/'
param processedPrefix string = 'processed/'

@description('Days after which raw uploads nobody processed are deleted.')
param temporaryExpirationDays int = 1

@description('Browser origins allowed to PUT uploads and GET images (CORS).')
param allowedOrigins array

@description('The app\'s callback URL (ASYNC_IMAGE_UPLOAD_CALLBACK_URL).')
param callbackUrl string

@secure()
@description('The callback signing secret (the first of ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS).')
param callbackSecret string

param variantWidths string = '320,800,1600'
param variantFormats string = 'webp,jpeg'
param maxPixels string = '50000000'
param maxBytes string = '10485760'
param allowedTypes string = 'image/jpeg,image/png,image/webp,image/gif,image/heic,image/heif,image/avif'
@description('Analyzers run on every image (ASYNC_IMAGE_UPLOAD_ANALYZERS).')
param analyzers string = 'placeholder,dominantColor,perceptualHash'

@allowed(['function', 'worker'])
param processor string = 'function'

@description('The Event Grid subscription: an Azure Function endpoint can be subscribed only once the function is deployed, so the first deployment of processor = function leaves it out.')
param deployEventSubscription bool = true

var suffix = uniqueString(resourceGroup().id, namePrefix)
var queueName = '${namePrefix}-uploads'
var deadLetterContainer = '${namePrefix}-deadletter'
var functionName = 'asyncimg_blob_created'
var isFunction = processor == 'function'

// Built-in role definitions
var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource uploads 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: take('${namePrefix}up${suffix}', 24)
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: uploads
  name: 'default'
  properties: {
    cors: {
      corsRules: [
        {
          allowedOrigins: allowedOrigins
          allowedMethods: ['PUT', 'GET', 'HEAD', 'OPTIONS']
          allowedHeaders: ['content-type', 'x-ms-blob-type', 'x-ms-version', 'x-ms-date']
          exposedHeaders: ['etag', 'x-ms-request-id']
          maxAgeInSeconds: 3600
        }
      ]
    }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: { publicAccess: 'None' }
}

resource deadLetters 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainer
  properties: { publicAccess: 'None' }
}

resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: uploads
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'abandoned-uploads'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: ['blockBlob']
              prefixMatch: ['${containerName}/${temporaryPrefix}']
            }
            actions: {
              baseBlob: { delete: { daysAfterModificationGreaterThan: temporaryExpirationDays } }
            }
          }
        }
        {
          name: 'dead-letters'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: { blobTypes: ['blockBlob'], prefixMatch: ['${deadLetterContainer}/'] }
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 14 } } }
          }
        }
      ]
    }
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = if (!isFunction) {
  parent: uploads
  name: 'default'
}

resource queue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = if (!isFunction) {
  parent: queueService
  name: queueName
}

// --- the callback secret --------------------------------------------------------------------

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${namePrefix}kv${suffix}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 30
  }
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'asyncimg-callback-secret'
  properties: { value: callbackSecret }
}

// --- the function ---------------------------------------------------------------------------

resource runtimeStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = if (isFunction) {
  name: take('${namePrefix}fn${suffix}', 24)
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = if (isFunction) {
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'linux'
  sku: { name: 'Y1', tier: 'Dynamic' }
  properties: { reserved: true }
}

resource functionApp 'Microsoft.Web/sites@2023-12-01' = if (isFunction) {
  name: '${namePrefix}-fn-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: 'SystemAssigned'
    siteConfig: {
      linuxFxVersion: 'Python|3.11'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        {
          name: 'AzureWebJobsStorage'
          value: 'DefaultEndpointsProtocol=https;AccountName=${runtimeStorage.name};AccountKey=${runtimeStorage.listKeys().keys[0].value};EndpointSuffix=${environment().suffixes.storage}'
        }
        { name: 'FUNCTIONS_EXTENSION_VERSION', value: '~4' }
        { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' }
        { name: 'SCM_DO_BUILD_DURING_DEPLOYMENT', value: 'true' }
        { name: 'ASYNCIMG_CALLBACK_URL', value: callbackUrl }
        { name: 'ASYNCIMG_CALLBACK_SECRET', value: '@Microsoft.KeyVault(SecretUri=${secret.properties.secretUri})' }
        { name: 'ASYNCIMG_AZURE_ACCOUNT_URL', value: uploads.properties.primaryEndpoints.blob }
        { name: 'ASYNCIMG_BUCKET', value: containerName }
        { name: 'ASYNCIMG_TEMPORARY_PREFIX', value: temporaryPrefix }
        { name: 'ASYNCIMG_PROCESSED_PREFIX', value: processedPrefix }
        { name: 'ASYNCIMG_VARIANT_WIDTHS', value: variantWidths }
        { name: 'ASYNCIMG_VARIANT_FORMATS', value: variantFormats }
        { name: 'ASYNCIMG_MAX_PIXELS', value: maxPixels }
        { name: 'ASYNCIMG_MAX_BYTES', value: maxBytes }
        { name: 'ASYNCIMG_ALLOWED_TYPES', value: allowedTypes }
        { name: 'ASYNCIMG_ANALYZERS', value: analyzers }
      ]
    }
  }
}

// Least privilege: blob data on the one container, and reading the one vault's secrets.
resource functionBlobAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isFunction) {
  name: guid(container.id, 'function', blobDataContributor)
  scope: container
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource functionSecretAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isFunction) {
  name: guid(vault.id, 'function', keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: functionApp.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// --- events ---------------------------------------------------------------------------------

resource systemTopic 'Microsoft.EventGrid/systemTopics@2024-06-01-preview' = {
  name: '${namePrefix}-uploads-${suffix}'
  location: location
  properties: {
    source: uploads.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

resource subscriptionToUploads 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2024-06-01-preview' = if (deployEventSubscription) {
  parent: systemTopic
  name: '${namePrefix}-blob-created'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    destination: isFunction
      ? {
          endpointType: 'AzureFunction'
          properties: {
            resourceId: '${functionApp.id}/functions/${functionName}'
            maxEventsPerBatch: 1
          }
        }
      : {
          endpointType: 'StorageQueue'
          properties: {
            resourceId: uploads.id
            queueName: queueName
            queueMessageTimeToLiveInSeconds: 604800
          }
        }
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      subjectBeginsWith: '/blobServices/default/containers/${containerName}/blobs/${temporaryPrefix}'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterDestination: {
      endpointType: 'StorageBlob'
      properties: {
        resourceId: uploads.id
        blobContainerName: deadLetterContainer
      }
    }
  }
  dependsOn: [container, deadLetters, queue]
}

output storageAccountName string = uploads.name
output blobEndpoint string = uploads.properties.primaryEndpoints.blob
output queueUrl string = isFunction ? '' : '${uploads.properties.primaryEndpoints.queue}${queueName}'
output functionAppName string = isFunction ? functionApp.name : ''
output keyVaultName string = vault.name
