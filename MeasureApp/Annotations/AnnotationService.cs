using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.History;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Annotations;

/// <summary>What a client sends to create or change an annotation (the API's JSON body and the UI's form).</summary>
/// <param name="Title">1–200 characters, no line breaks.</param>
/// <param name="Text">Optional, up to 4,000 characters.</param>
/// <param name="From">Seconds since the first sample (≥ 0).</param>
/// <param name="To">End of a range (≥ From); null for a point.</param>
/// <param name="Tags">Up to 20 tags of 1–40 characters.</param>
public sealed record AnnotationInput(string? Title, string? Text, double? From, double? To, IReadOnlyList<string>? Tags);

/// <summary>An annotation as the API and the UI show it.</summary>
public sealed record AnnotationInfo(Guid Id, Guid MeasurementId, string Title, string? Text, double From, double? To,
    IReadOnlyList<string> Tags, string AuthorId, string AuthorName, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    /// <summary>A range (from–to) rather than a point.</summary>
    public bool IsRange => To is not null;
}

/// <summary>How a change went.</summary>
public enum AnnotationOutcome
{
    /// <summary>Done.</summary>
    Ok,
    /// <summary>The measurement or the annotation is unknown or not visible to the requester.</summary>
    NotFound,
    /// <summary>Visible, but only its author, the measurement's owner or an admin may change or delete it.</summary>
    Forbidden,
    /// <summary>The input was refused; <see cref="AnnotationResult.Errors"/> names the fields.</summary>
    Invalid,
}

/// <summary>Outcome of a create, update or delete.</summary>
public sealed record AnnotationResult(AnnotationOutcome Outcome, AnnotationInfo? Annotation = null, IReadOnlyDictionary<string, string[]>? Errors = null)
{
    internal static AnnotationResult NotFound { get; } = new(AnnotationOutcome.NotFound);
    internal static AnnotationResult Forbidden { get; } = new(AnnotationOutcome.Forbidden);
}

/// <summary>
/// Annotations of measurements. Every call goes through <see cref="MeasurementCatalog.FindReadableAsync"/>, so an
/// annotation is visible exactly to whoever may see its measurement, and another user's measurement answers
/// like an unknown one. Anyone who sees a measurement may annotate it; an annotation is changed by its author
/// and deleted by its author, the measurement's owner or an admin.
/// </summary>
public sealed class AnnotationService(IDbContextFactory<AppDbContext> contexts, MeasurementCatalog catalog, TimeProvider time)
{
    /// <summary>Longest title.</summary>
    public const int MaxTitleLength = 200;
    /// <summary>Longest text.</summary>
    public const int MaxTextLength = 4000;
    /// <summary>Most tags per annotation.</summary>
    public const int MaxTags = 20;
    /// <summary>Longest tag.</summary>
    public const int MaxTagLength = 40;
    /// <summary>Latest time an annotation may name (ten years of seconds).</summary>
    public const double MaxSeconds = 315_576_000;
    /// <summary>Most annotations on one measurement.</summary>
    public const int MaxPerMeasurement = 2000;

    /// <summary>The measurement's annotations by start time, or null when the measurement is not visible.</summary>
    public async Task<IReadOnlyList<AnnotationInfo>?> ListAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is null)
        {
            return null;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rows = await db.Set<AnnotationRecord>().AsNoTracking().Where(a => a.MeasurementId == measurementId).ToListAsync(cancellationToken);
        return [.. rows.OrderBy(a => a.FromSeconds).ThenBy(a => a.Id).Select(ToInfo)];
    }

    /// <summary>Adds an annotation by the requester.</summary>
    public async Task<AnnotationResult> CreateAsync(Requester requester, Guid measurementId, AnnotationInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is null)
        {
            return AnnotationResult.NotFound;
        }
        if (Validate(input) is { } errors)
        {
            return new AnnotationResult(AnnotationOutcome.Invalid, Errors: errors);
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.Set<AnnotationRecord>().CountAsync(a => a.MeasurementId == measurementId, cancellationToken) >= MaxPerMeasurement)
        {
            return new AnnotationResult(AnnotationOutcome.Invalid, Errors: new Dictionary<string, string[]>
            {
                ["title"] = [$"This measurement already has {MaxPerMeasurement:N0} annotations, the most it may have."],
            });
        }
        var now = time.GetUtcNow();
        var record = new AnnotationRecord
        {
            Id = Guid.CreateVersion7(now),
            MeasurementId = measurementId,
            AuthorId = requester.UserId,
            AuthorName = requester.UserName,
            Title = "",
            CreatedAt = now,
        };
        Apply(record, input, now);
        db.Add(record);
        await db.SaveChangesAsync(cancellationToken);
        return new AnnotationResult(AnnotationOutcome.Ok, ToInfo(record));
    }

    /// <summary>Changes an annotation (its author only).</summary>
    public async Task<AnnotationResult> UpdateAsync(Requester requester, Guid measurementId, Guid annotationId, AnnotationInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is null)
        {
            return AnnotationResult.NotFound;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var record = await db.Set<AnnotationRecord>().FirstOrDefaultAsync(a => a.Id == annotationId && a.MeasurementId == measurementId, cancellationToken);
        if (record is null)
        {
            return AnnotationResult.NotFound;
        }
        if (!string.Equals(record.AuthorId, requester.UserId, StringComparison.Ordinal))
        {
            return AnnotationResult.Forbidden;
        }
        if (Validate(input) is { } errors)
        {
            return new AnnotationResult(AnnotationOutcome.Invalid, Errors: errors);
        }
        Apply(record, input, time.GetUtcNow());
        await db.SaveChangesAsync(cancellationToken);
        return new AnnotationResult(AnnotationOutcome.Ok, ToInfo(record));
    }

    /// <summary>Deletes an annotation (its author, the measurement's owner or an admin).</summary>
    public async Task<AnnotationResult> DeleteAsync(Requester requester, Guid measurementId, Guid annotationId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is not { } measurement)
        {
            return AnnotationResult.NotFound;
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var record = await db.Set<AnnotationRecord>().FirstOrDefaultAsync(a => a.Id == annotationId && a.MeasurementId == measurementId, cancellationToken);
        if (record is null)
        {
            return AnnotationResult.NotFound;
        }
        var mayDelete = requester.IsAdmin
            || string.Equals(record.AuthorId, requester.UserId, StringComparison.Ordinal)
            || string.Equals(measurement.OwnerId, requester.UserId, StringComparison.Ordinal);
        if (!mayDelete)
        {
            return AnnotationResult.Forbidden;
        }
        db.Remove(record);
        await db.SaveChangesAsync(cancellationToken);
        return new AnnotationResult(AnnotationOutcome.Ok, ToInfo(record));
    }

    /// <summary>Deletes every annotation of a measurement (the measurement itself is being deleted by its owner).</summary>
    internal static Task DeleteAllAsync(AppDbContext db, Guid measurementId, CancellationToken cancellationToken) =>
        db.Set<AnnotationRecord>().Where(a => a.MeasurementId == measurementId).ExecuteDeleteAsync(cancellationToken);

    /// <summary>The refusals of <paramref name="input"/>, keyed by the API's field names; null when it is valid.</summary>
    public static Dictionary<string, string[]>? Validate(AnnotationInput? input)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (input is null)
        {
            errors["title"] = ["A JSON body {\"title\", \"from\", \"to\", \"text\", \"tags\"} is required."];
            return errors;
        }
        var title = input.Title?.Trim();
        if (string.IsNullOrEmpty(title))
        {
            errors["title"] = ["A title is required."];
        }
        else if (title.Length > MaxTitleLength)
        {
            errors["title"] = [$"The title may have at most {MaxTitleLength} characters (it has {title.Length})."];
        }
        else if (title.Any(char.IsControl))
        {
            errors["title"] = ["The title may not contain line breaks or control characters."];
        }
        if (input.Text is { Length: > MaxTextLength } text)
        {
            errors["text"] = [$"The text may have at most {MaxTextLength} characters (it has {text.Length})."];
        }
        // Times are not bounded by the measurement's duration: with gaps, the last sample's time is not
        // count / rate, and a note just past the end harms nobody. They must be real, non-negative numbers.
        if (input.From is not { } from || !double.IsFinite(from))
        {
            errors["from"] = ["from (seconds since the first sample) is required."];
        }
        else if (from is < 0 or > MaxSeconds)
        {
            errors["from"] = [$"from must be between 0 and {MaxSeconds:0} s."];
        }
        if (input.To is { } to)
        {
            if (!double.IsFinite(to) || to > MaxSeconds)
            {
                errors["to"] = [$"to must be a number of seconds up to {MaxSeconds:0}, or omitted for a point."];
            }
            else if (input.From is { } f && double.IsFinite(f) && to < f)
            {
                errors["to"] = ["to must not be before from."];
            }
        }
        var tags = input.Tags ?? [];
        if (tags.Count > MaxTags)
        {
            errors["tags"] = [$"At most {MaxTags} tags (there are {tags.Count})."];
        }
        else if (tags.Any(t => string.IsNullOrWhiteSpace(t) || t.Trim().Length > MaxTagLength || t.Any(char.IsControl)))
        {
            errors["tags"] = [$"Each tag has 1–{MaxTagLength} characters and no line breaks."];
        }
        return errors.Count == 0 ? null : errors;
    }

    private static void Apply(AnnotationRecord record, AnnotationInput input, DateTimeOffset now)
    {
        record.Title = input.Title!.Trim();
        record.Text = string.IsNullOrWhiteSpace(input.Text) ? null : input.Text.Trim();
        record.FromSeconds = input.From!.Value;
        record.ToSeconds = input.To;
        record.TagsJson = JsonSerializer.Serialize(NormalizeTags(input.Tags));
        record.UpdatedAt = now;
    }

    /// <summary>Trimmed, without duplicates (case-insensitive), in the given order.</summary>
    public static IReadOnlyList<string> NormalizeTags(IEnumerable<string>? tags) =>
        [.. (tags ?? []).Select(t => t.Trim()).Where(t => t.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)];

    private static AnnotationInfo ToInfo(AnnotationRecord r) => new(r.Id, r.MeasurementId, r.Title, r.Text, r.FromSeconds, r.ToSeconds,
        JsonSerializer.Deserialize<string[]>(r.TagsJson) ?? [], r.AuthorId, r.AuthorName, r.CreatedAt, r.UpdatedAt);
}
