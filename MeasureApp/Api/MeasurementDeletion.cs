using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Export;
using MeasureApp.History;
using MeasureApp.Acquisition.Storage;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Api;

/// <summary>What a delete request did.</summary>
public enum DeletionOutcome
{
    /// <summary>Metadata and raw data are gone.</summary>
    Deleted,
    /// <summary>Unknown id, or not visible to the requester.</summary>
    NotFound,
    /// <summary>Visible (an admin looking at someone else's, or shared with the requester) but only the owner deletes.</summary>
    NotOwner,
    /// <summary>Still running (on any instance): stop it first.</summary>
    Running,
    /// <summary>An export of it is being written on this instance: delete it when the download has finished.</summary>
    Exporting,
}

/// <summary>Deletes a measurement of its owner: ownership through <see cref="MeasurementCatalog"/>, raw data first, metadata last.</summary>
public static class MeasurementDeletion
{
    /// <summary>Deletes measurement <paramref name="id"/> when <paramref name="requester"/> owns it, it is stopped
    /// and no export of it is being written (<paramref name="exports"/>).</summary>
    public static async Task<DeletionOutcome> DeleteAsync(Requester requester, Guid id, MeasurementCatalog catalog, MeasurementEngine engine, ISampleStore store, IDbContextFactory<AppDbContext> contexts, ExportsInProgress exports, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(exports);
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(store);
        // Read access first: a user it is shared with hears "not yours" (403), everyone else "not found".
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return DeletionOutcome.NotFound;
        }
        if (!string.Equals(record.OwnerId, requester.UserId, StringComparison.Ordinal))
        {
            return DeletionOutcome.NotOwner;
        }
        // The stored state covers measurements running on other instances too.
        if (record.State != MeasurementState.Stopped || engine.Find(id, requester) is not null)
        {
            return DeletionOutcome.Running;
        }
        // A download in progress would otherwise end short (or be aborted): the delete waits for the user instead.
        using var deleting = exports.TryBeginDelete(id);
        if (deleting is null)
        {
            return DeletionOutcome.Exporting;
        }
        // Data first, row last: an interrupted delete leaves a row that can be deleted again.
        await store.DeleteSamplesAsync(id, cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await MeasureApp.Annotations.AnnotationService.DeleteAllAsync(db, id, cancellationToken);
        await db.MeasurementTags.Where(t => t.MeasurementId == id).ExecuteDeleteAsync(cancellationToken);
        await db.MeasurementMetadata.Where(m => m.MeasurementId == id).ExecuteDeleteAsync(cancellationToken);
        await db.Measurements.Where(m => m.Id == id && m.OwnerId == requester.UserId).ExecuteDeleteAsync(cancellationToken);
        // Audited on the same database right after the row went (no audit service needed by the callers).
        db.Audit.Add(new MeasureApp.Audit.AuditRecord
        {
            At = DateTimeOffset.UtcNow,
            ActorId = requester.UserId,
            ActorName = requester.UserName,
            Action = MeasureApp.Audit.AuditActions.Delete,
            MeasurementId = id,
            MeasurementName = record.Name,
        });
        await db.SaveChangesAsync(cancellationToken);
        return DeletionOutcome.Deleted;
    }
}
